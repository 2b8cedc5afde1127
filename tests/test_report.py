"""Report generation from a small fixture of JSON lines: tables, summary, plots."""
import json

from leanbert.report.render import best_at_drop, pareto, series, write_report


def row(method, score, gflops, pad32=None, dyn32=None, variant=None, target=None):
    return {"task": "mrpc", "split": "dev", "method": method, "variant": variant or method, "config": {},
            "backbone": "tiny", "metric": "f1", "score": score, "dense_score": 88.0, "gflops": gflops,
            "dense_gflops": 2.0, "speedup_padded": {"32": pad32} if pad32 else {},
            "speedup_dynamic": {"32": dyn32} if dyn32 else {}, "predicted_speedup": 2.0 / gflops,
            "target_speedup": target, "threads": 1, "versions": {}, "command": f"leanbert evaluate --method {method}"}


ROWS = [row("dense", 88.0, 2.0), row("acc", 87.8, 1.0, 3.0, 1.6, target=2), row("acc", 86.5, 0.5, 5.0, 2.5, target=4),
        row("power", 87.0, 1.0, 2.9, 1.5, target=2)]


def test_pareto_keeps_only_unbeaten_points():
    assert pareto([(1, 5), (2, 4), (2, 3), (3, 1), (1.5, 2)]) == [(1, 5), (2, 4), (3, 1)]


def test_best_at_drop():
    acc = ROWS[1:3]
    assert best_at_drop(acc, "padded", 0.5) == 3.0
    assert best_at_drop(acc, "dynamic", 2.0) == 2.5
    assert best_at_drop(acc, "padded", 0.1) is None


def test_report_writes_tables_and_plots(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "mrpc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = write_report(results, tmp_path / "docs" / "results.md", "# Results\nintro\n")
    text = out.read_text()
    assert "| mrpc | acc | 3.00x / 1.60x | 3.00x / 1.60x | 5.00x / 2.50x |" in text
    assert "| acc | 4.00 | 86.50 | – | -1.50 | 0.500 | 4.00x |" in text  # accuracy beside F1 (none recorded here)
    assert "leanbert evaluate --method power" in text
    for ext in ("png", "svg"):
        assert (tmp_path / "docs" / "plots" / f"mrpc.{ext}").stat().st_size > 1000


def test_report_sparse_and_repeatability_sections(tmp_path):
    results = tmp_path / "results"
    (results / "sparse").mkdir(parents=True)
    (results / "speed").mkdir()
    (results / "mrpc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    sparse = dict(row("sparse", 85.0, 2.0), variant="sparse-w2-r0-g-from4", sparsity=0.86)
    (results / "sparse" / "mrpc_zeroshot.jsonl").write_text(json.dumps(sparse) + "\n")
    rep = [{"target_speedup": 2.0, "padded": {"32": 2.0}, "dynamic": {"32": v}} for v in (1.9, 2.1)]
    (results / "speed" / "repeatability.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rep))
    rep7 = [{"target_speedup": 3.0, "padded": {"1": v}, "dynamic": {"1": 1.5}, "rounds": {"1": 25, "32": 7}, "run_id": run,
             "allocator": "glibc: mmap off, trim off"} for v, run in ((3.0, "a"), (3.3, "b"))]
    (results / "speed" / "repeatability_rounds7.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rep7))
    text = write_report(results, tmp_path / "docs" / "results.md").read_text()
    assert "## Repeatability (results/speed/repeatability_rounds7.jsonl)" in text
    assert "(25 at batch 1, 7 at batch 32 alternating rounds)" in text
    assert "2 times in 2 processes" in text and "allocator: glibc: mmap off, trim off" in text
    assert "2 times in 1 process (" in text and "allocator: default" in text  # the older file: no run ids
    assert "| 3.0 | padded | 1 | 3.00x / 3.30x | 9.5% |" in text  # one table per file
    assert "| mrpc | sparse-w2-r0-g | 4 | 0.860 | 85.00 | -3.00 |" in text
    assert "| 2.0 | dynamic | 32 | 1.90x / 2.10x | 10.0% |" in text
    assert "| 2.0 | padded | 32 | 2.00x / 2.00x | 0.0% |" in text


def test_report_study_and_deployment_sections(tmp_path):
    results = tmp_path / "results"
    (results / "sparse").mkdir(parents=True)
    (results / "speed").mkdir()
    (results / "mrpc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    study = [dict(row("sparse", s, 2.0), study="sparse", family="neighbour", placement=p, target_sparsity=0.78, knob=3,
                  sparsity=0.8, epochs=e) for s, p, e in ((80.0, "all", 1), (87.0, "later", 1), (70.0, "all", 0))]
    study.append(dict(row("dense", 88.5, 1.0), study="sparse", family="dense-control", placement="none",
                      target_sparsity=None, knob=0, sparsity=0.0, epochs=1))
    (results / "sparse" / "mrpc_study.jsonl").write_text("".join(json.dumps(r) + "\n" for r in study))
    onnx = {"task": "mrpc", "target_speedup": 2.0, "batch_size": 32, "torch_seconds": 1.0, "onnx_seconds": 0.5,
            "onnx_vs_torch": 2.0, "speedup_vs_dense": {"torch": 1.9, "onnx": 2.1},
            "export_checks": [{"length": 7, "batch": 1, "max_abs_diff": 2e-6}, {"length": 33, "batch": 3, "max_abs_diff": 5e-6}]}
    serve = {"checkpoint": "ck", "speedup": 3.0, "texts_per_request": 8, "clients": 4, "requests": 300, "errors": 0,
             "requests_per_s": 22.0, "texts_per_s": 176.0, "latency_ms": {"p50": 173.3, "p90": 191.3, "p99": 411.8}}
    (results / "speed" / "onnx.jsonl").write_text(json.dumps(onnx) + "\n")
    (results / "speed" / "serve.jsonl").write_text(json.dumps(serve) + "\n")
    workers = dict(serve, batching=True, workers=2, server_threads=1, server_args="--runtime onnxruntime --graph g.onnx")
    (results / "speed" / "serve_workers.jsonl").write_text(json.dumps(workers) + "\n")
    banded = {"batch_size": 8, "width": 48, "sparsity": 0.816, "attention_core_speedup_vs_dense": 1.6,
              "attention_speedup_vs_dense": 1.2, "model_speedup_vs_dense": 1.05, "model_speedup_vs_masked": 1.1,
              "flops_ratio": 1.15, "max_abs_logit_diff_banded_vs_masked": 2e-7}
    composed = {"batch_size": 8, "composed_with": "acc", "target_speedup": 2.0, "width": 48,
                "speedup_vs_dense": {"acc": 1.5, "acc+masked": 1.4, "acc+banded": 1.9}}
    (results / "speed" / "sparse_512.jsonl").write_text(json.dumps(banded) + "\n" + json.dumps(composed) + "\n")
    out = tmp_path / "docs" / "results.md"
    text = write_report(results, out).read_text()
    assert "| neighbour | later | 0.78 | 3 | 0.800 | 1 | 87.00 | -1.00 | -1.50 |" in text  # the control: 88.5
    assert "| dense-control | none | – | 0 | 0.000 | 1 | 88.50 | +0.50 | +0.00 |" in text
    assert "| neighbour | all | 0.78 | 3 | 0.800 | 0 | 70.00 | -18.00 | – |" in text  # zero-shot: no control
    assert text.index("fine-tuned with each mask") > text.index("no fine-tuning")  # two tables, two plots
    assert (out.parent / "plots" / "mrpc_sparse_study.png").is_file()
    assert (out.parent / "plots" / "mrpc_sparse_study_finetuned.png").is_file()
    assert "| mrpc | 2.0 | 32 | 1.000 | 0.500 | 2.00x | 1.90x | 2.10x | 7,33 | 5.0e-06 |" in text
    assert "| ck | - | - | - | torch | 3.0 | 8 | 4 | 300 | 0 | 22.0 | 176 | 173 | 191 | 412 |" in text  # older columns
    assert "(results/speed/serve_workers.jsonl" in text
    assert "| ck | on | 2 | 1 | onnxruntime | 3.0 | 8 | 4 | 300 | 0 | 22.0 | 176 | 173 | 191 | 412 |" in text
    assert "| 8 | 48 | 0.816 | 1.60x | 1.20x | 1.05x | 1.10x | 1.15x | 2.0e-07 |" in text
    assert "| 8 | 2.0 | 48 | 1.50x | 1.40x | 1.90x |" in text


def test_fca_claim_section_averages_the_loss_and_reports_padded_flops():
    from leanbert.methods.fca.report import fca_claim_section

    def claim_row(task, variant, score, method_gflops):
        r = row("fca" if variant.startswith("fca") else "power", score, 1.0, variant=variant)
        r.update(task=task, gflops_padded={"dense": 4.0, "method": method_gflops})
        return r

    by_task = {"mrpc": [row("dense", 88.0, 2.0), claim_row("mrpc", "power", 87.0, 2.0),
                        claim_row("mrpc", "fca-k1-weighted", 87.5, 2.1)],
               "rte": [claim_row("rte", "power", 86.0, 1.0), claim_row("rte", "fca-k1-weighted", 88.5, 1.05)]}
    lines = fca_claim_section(by_task)
    text = "\n".join(lines)
    assert "| mrpc | 88.00 | 87.00 (-1.00), 2.00x | 87.50 (-0.50), 1.90x | – |" in text
    assert "| rte | 88.00 | 86.00 (-2.00), 4.00x | 88.50 (+0.50), 3.81x | – |" in text
    assert "power: 1.50 points over 2 tasks; fca-k1-weighted: 0.00 points over 2 tasks." in text
    assert fca_claim_section({"mrpc": [row("dense", 88.0, 2.0)]}) == []


def test_one_run_per_point_variants_form_one_curve(tmp_path):
    """PoWER-BERT's lambda sweep (`power`, `power-lambda<L>`) and LTP's (`ltp-lambda<L>`) are one curve each
    in the summary; the per-task table still lists every run under its own name."""
    assert series({"variant": "power-lambda1e-3", "method": "power"}) == "power"
    assert series({"variant": "ltp-lambda0.3", "method": "ltp"}) == "ltp"
    assert series({"variant": "fca-k5-mean", "method": "fca"}) == "fca-k5-mean"
    rows = [row("dense", 88.0, 2.0), row("power", 87.9, 1.0, 2.0, 1.2),
            row("power", 87.2, 0.5, 4.0, 2.2, variant="power-lambda9e-3")]
    results = tmp_path / "results"
    results.mkdir()
    (results / "mrpc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = write_report(results, tmp_path / "results.md", "# Results\n").read_text()
    assert "| mrpc | power | 2.00x / 1.20x | 4.00x / 2.20x | 4.00x / 2.20x |" in text
    assert "| power-lambda9e-3 |" in text


def embedding_row(model, variant, target, flops, spearman, method="tome", pooling="exit"):
    return {"model": model, "variant": variant, "method": method, "target_speedup": target, "start_layer": 0,
            "pooling": pooling, "flops_ratio": flops, "stsb_spearman": spearman, "tasks": ["stsb"], "config": None}


def test_report_embeddings_and_backbone_sections(tmp_path):
    results = tmp_path / "results"
    (results / "embeddings").mkdir(parents=True)
    (results / "mpnet").mkdir()
    (results / "mrpc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (results / "mpnet" / "mrpc.jsonl").write_text("".join(
        json.dumps({**r, "backbone": "all-mpnet-base-v2", "score": r["score"] - 1}) + "\n" for r in ROWS))
    shipped = [embedding_row("all-MiniLM-L6-v2", "dense", 1.0, 1.0, 86.72, method="dense"),
               embedding_row("all-MiniLM-L6-v2", "tome", 2.0, 1.86, 80.0)]
    distilled = [*shipped, embedding_row("runs/d", "dense", 1.0, 1.0, 86.5, method="dense"),  # re-scored shipped rows too
                 embedding_row("runs/d", "tome", 2.0, 1.86, 85.0)]
    (results / "embeddings" / "minilm.jsonl").write_text("".join(json.dumps(r) + "\n" for r in shipped))
    (results / "embeddings" / "minilm_distilled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in distilled))
    (results / "embeddings" / "minilm_speed.jsonl").write_text(json.dumps(
        {"method": "tome", "target_speedup": 2.0, "speedup_dynamic": {"1": 1.02, "32": 1.6}}) + "\n")
    text = write_report(results, tmp_path / "docs" / "results.md").read_text()
    assert "| training-free | all-MiniLM-L6-v2 | tome | exit | 2 | 1.86 | 80.00 | -6.72 | 1.60x | 1.02x |" in text
    assert "| distilled | runs/d | tome | exit | 2 | 1.86 | 85.00 | -1.72 | 1.60x | 1.02x |" in text
    assert "## all-mpnet-base-v2: mrpc (dev, f1; mpnet/mrpc.jsonl)" in text
    assert text.count("| training-free | all-MiniLM-L6-v2 | tome | exit | 2 |") == 1  # one row per config
    minilm, mpnet = text.split("## all-mpnet-base-v2: mrpc")
    assert "| acc | 4.00 | 85.50 |" in mpnet.split("\n## ")[0] and "85.50" not in minilm  # kept apart
    assert (tmp_path / "docs" / "plots" / "embeddings_stsb.png").stat().st_size > 1000


def test_embeddings_report_shows_retrieval_rows_of_every_quality_file(tmp_path):
    folder = tmp_path / "results" / "embeddings"
    folder.mkdir(parents=True)

    def emb(model, variant, target, flops, **measures):
        return {"model": model, "variant": variant, "method": variant, "pooling": "exit", "start_layer": 0,
                "target_speedup": target, "flops_ratio": flops, "tasks": sorted(k.split("_")[0] for k in measures),
                **measures}

    (folder / "minilm.jsonl").write_text(json.dumps(emb("all-MiniLM-L6-v2", "dense", 1, 1.0, stsb_spearman=86.7)) + "\n")
    strong = [emb("runs/x", "tome", 2, 1.97, bbc_map=69.3, mrpc_auc=74.02), emb("runs/x", "tome", 2, 1.86, stsb_spearman=83.2)]
    (folder / "minilm_distilled_strong.jsonl").write_text("".join(json.dumps(r) + "\n" for r in strong))
    text = write_report(tmp_path / "results", tmp_path / "docs" / "results.md").read_text()
    assert "| distilled | runs/x | tome | exit | 2 | 1.86 | 83.20 | -3.50 |" in text  # the STS-B table reads the new file
    assert "| distilled | runs/x | tome | exit | 2 | 1.97 | 69.30 | 74.02 |" in text
