"""int8 and optimised runtimes (leanbert.deploy.runtimes): quantised torch and onnxruntime agree with fp32 within the
stated tolerance, reduced (ACC 2x) graphs run in every runtime, the CLI refuses bad combinations in one line, and
`serve --runtime onnxruntime` answers. One graph is exported per session (the dynamo export is the slow part);
the other graphs are derived from it."""
import json

import pytest
import torch
from transformers import BertTokenizerFast

import leanbert
from conftest import SPECIALS, WORDS, tiny_model
from leanbert.cli import main
from leanbert.deploy.export import verify_onnx
from leanbert.deploy.runtimes import OrtRunner, TorchRunner
from leanbert.deploy.runtimes.graphs import export_runtime_graph, tolerance, transform_graph
from leanbert.core.schedule import solve_fractions

pytest.importorskip("onnxruntime")
LAYERS, LENGTH = 3, 32
ACC2 = leanbert.ACCConfig(keep_fractions=solve_fractions(2.0, LAYERS, LENGTH, 32, 64))
GRAPH_RUNTIMES = [("onnxruntime", "int8"), ("onnxruntime-fused", "fp32"), ("onnxruntime-fused", "int8-per-channel")]


def acc_model():
    # initializer_range 0.3: logits that move with the input, so a wrong keep count or a broken graph shows
    return leanbert.apply(tiny_model(layers=LAYERS, initializer_range=0.3, vocab_size=len(SPECIALS + WORDS)), ACC2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved tiny ACC-2x checkpoint with tokenizer, and its fp32 graph exported and verified once."""
    path = tmp_path_factory.mktemp("runtimes") / "acc2"
    (path / "vocab").mkdir(parents=True)
    (path / "vocab" / "vocab.txt").write_text("\n".join(SPECIALS + WORDS) + "\n")
    BertTokenizerFast.from_pretrained(path / "vocab", do_lower_case=True).save_pretrained(path)
    model = acc_model()
    model.save_pretrained(path)
    info = export_runtime_graph(model, path / "fp32.onnx", "onnxruntime", "fp32", lengths=(7, 33))
    return path, model, info


def batch(length=20, rows=3):
    ids = torch.randint(5, len(SPECIALS + WORDS), (rows, length), generator=torch.Generator().manual_seed(length))
    mask = torch.ones_like(ids)
    mask[1:, length // 2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


@pytest.mark.parametrize("precision", ["int8", "int8-per-channel"])
@pytest.mark.parametrize("config", [None, ACC2], ids=["dense", "acc2x"])
def test_torch_int8_agrees_with_fp32_within_tolerance(precision, config):
    model = acc_model()
    fp32, int8 = TorchRunner(model, config, "fp32"), TorchRunner(model, config, precision)
    assert type(int8.model.classifier).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert leanbert.current_config(model) == ACC2  # the caller's model is left as it was
    diff = (fp32.predict(batch()) - int8.predict(batch())).abs().max().item()
    assert 0 < diff <= tolerance("torch", precision)


def test_the_exported_fp32_graph_records_its_checks(checkpoint):
    path, _, info = checkpoint
    record = json.loads((path / "fp32.onnx.json").read_text())
    assert record["runtime"] == "onnxruntime" and record["precision"] == "fp32" and record["tolerance"] == 1e-4
    assert record["leanbert"]["method"] == "acc" and all(c["max_abs_diff"] <= 1e-4 for c in info["checks"])


@pytest.mark.parametrize("runtime, precision", GRAPH_RUNTIMES)
def test_reduced_graphs_run_in_each_runtime_within_tolerance(checkpoint, tmp_path, runtime, precision):
    path, model, _ = checkpoint
    fusions = transform_graph(path / "fp32.onnx", tmp_path / "g.onnx", runtime, precision, model.config)
    checks = verify_onnx(model, tmp_path / "g.onnx", lengths=(7, 33), tolerance=tolerance(runtime, precision))
    assert all(c["max_abs_diff"] <= tolerance(runtime, precision) for c in checks)
    if precision != "fp32":
        assert fusions.get("DynamicQuantizeMatMul", 0) + fusions.get("MatMulInteger", 0) > 0, fusions
    if runtime == "onnxruntime-fused":
        assert fusions.get("BiasGelu") == LAYERS, fusions  # the feed-forward GELU fuses in reduced graphs too
    runner = OrtRunner(tmp_path / "g.onnx", threads=1)
    with torch.no_grad():
        expected = model(**batch()).logits
    assert (runner.predict(batch()) - expected).abs().max().item() <= tolerance(runtime, precision)


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--checkpoint", "X", "--task", "sst2", "--runtime", "tensorrt"], "error: --runtime tensorrt"),
    (["evaluate", "--checkpoint", "X", "--task", "sst2", "--precision", "fp16"], "error: --precision fp16"),
    (["bench", "--checkpoint", "X", "--task", "sst2", "--runtime", "onnx"], "error: --runtime onnx"),
    (["export", "X", "-o", "OUT/m.onnx", "--quantize", "int4"], "error: --quantize int4"),
    (["export", "X", "-o", "OUT/m.onnx", "--task", "sst2", "--max-drop", "-1"], "error: --max-drop"),
    (["serve", "X", "--graph", "m.onnx"], "error: --graph and --precision need --runtime onnxruntime"),
    (["serve", "X", "--runtime", "onnxruntime", "--graph", "m.onnx", "--precision", "int8"], "error: --precision"),
])
def test_cli_refuses_bad_runtime_options_in_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main([a.replace("OUT", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.startswith(message) and len(err.splitlines()) == 1, err


def test_onnxruntime_refuses_a_method_it_cannot_export(capsys, checkpoint, glue_dir):
    path, _, _ = checkpoint
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(path), "--task", "sst2", "--data-dir", str(glue_dir), "--method", "tome",
              "--speedup", "2", "--runtime", "onnxruntime"])
    assert capsys.readouterr().err.startswith("error: --runtime onnxruntime runs exported graphs: invalid config field 'method'")


def test_evaluate_in_torch_int8_writes_rows_naming_the_runtime(checkpoint, glue_dir, tmp_path, capsys):
    path, _, _ = checkpoint
    out = tmp_path / "rows.jsonl"
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--checkpoint", str(path), "--task", "sst2", "--data-dir", str(glue_dir), "--method", "acc",
              "--speedup", "2", "--precision", "int8", "--results", str(out)])
    assert stop.value.code == 0, capsys.readouterr().err
    row = json.loads(out.read_text())
    assert (row["runtime"], row["precision"], row["method"]) == ("torch", "int8", "acc") and 0 <= row["score"] <= 100


def test_serve_answers_from_an_exported_graph(checkpoint):
    from fastapi.testclient import TestClient

    from leanbert.deploy.runtimes.serving import GraphClassifier
    from leanbert.deploy.serve import create_app

    path, _, _ = checkpoint
    client = TestClient(create_app(GraphClassifier(path, [path / "fp32.onnx"], max_length=32)))
    texts = ["the movie was very good and the plot was great", "bad film"]
    body = client.post("/classify", json={"texts": texts}).json()
    assert len(body["labels"]) == 2 and body["predicted_speedup"] > 1, body
    health = client.get("/health").json()
    assert health["runtime"] == "onnxruntime" and health["graphs"][0]["precision"] == "fp32"
    beyond = client.post("/classify", json={"texts": texts, "speedup": 50})
    assert beyond.status_code == 400 and "speedup" in beyond.json()["detail"]


def test_the_task_check_compares_scores_and_removes_a_graph_that_loses(checkpoint, glue_dir, tmp_path):
    from leanbert.errors import LeanbertError
    from leanbert.deploy.runtimes.accuracy import task_check

    path, model, _ = checkpoint
    for suffix in ("", ".json"):
        (tmp_path / f"g.onnx{suffix}").write_bytes((path / f"fp32.onnx{suffix}").read_bytes())
    check = task_check(model, tmp_path / "g.onnx", path, "sst2", glue_dir, max_drop=0.0)
    assert check["graph"] == check["torch_fp32"]  # fp32: the same predictions
    assert json.loads((tmp_path / "g.onnx.json").read_text())["task_check"] == check
    with pytest.raises(LeanbertError, match="more than --max-drop"):  # it would have to beat PyTorch by a point
        task_check(model, tmp_path / "g.onnx", path, "sst2", glue_dir, max_drop=-1.0)
    assert not (tmp_path / "g.onnx").exists()


def test_the_runtime_benchmark_records_a_refused_cell_and_goes_on(checkpoint, glue_dir, tmp_path, monkeypatch):
    """A cell whose export is refused (logits past the tolerance) is a row naming the reason, with no score; the
    next cell still runs, and the table shows the refusal."""
    from benchmarks import runtimes as bench_runtimes
    from benchmarks.runtimes_table import render
    from leanbert.errors import LeanbertError
    from leanbert.deploy.runtimes import measure

    path, _, _ = checkpoint

    calls = []

    def refuse(model, graph, runtime, precision, **kw):  # as an export whose logits land past the tolerance
        calls.append(precision)
        raise LeanbertError("ONNX output differs from PyTorch at batch 3, length 33: max |diff| 1.09 > 1")

    monkeypatch.setattr(measure, "export_runtime_graph", refuse)
    out = tmp_path / "runtimes" / "t.jsonl"
    bench_runtimes.main(["--task", "sst2", "--dense", str(path), "--checkpoint", str(path), "--speedups", "2,3",
                         "--cells", "onnxruntime:int8,torch:fp32", "--data-dir", str(glue_dir), "--no-timing",
                         "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    refused = [r for r in rows if r.get("refused")]
    assert [(r["precision"], r["variant"], r["target_speedup"]) for r in refused] == [
        ("int8", "dense", 1.0), ("int8", "acc", 2.0), ("int8", "acc", 3.0)]
    assert calls == ["int8"] * 3  # each target tried on its own: one refusal does not stand for the next
    assert all("1.09 > 1" in r["refused"] and "score" not in r for r in refused)
    measured = [r for r in rows if not r.get("refused")]
    assert [(r["runtime"], r["variant"], r["target_speedup"] or 1.0) for r in measured] == [
        ("torch", "dense", 1.0), ("torch", "acc", 2.0), ("torch", "acc", 3.0)]
    table = render(out.parent)
    assert "refused: max \\|diff\\| 1.09 > 1" in table and table.count("| dense |") == 1
