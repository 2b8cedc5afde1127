"""`leanbert report`: JSON-lines results -> Markdown tables and matplotlib plots."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from .. import atomic

DROPS = (0.5, 1.0, 2.0)


def load_rows(results_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(results_dir).glob("*.jsonl")):
        rows += atomic.read_jsonl(path)
    return rows


def label(row: dict) -> str:
    return row.get("variant") or row["method"]


_ONE_RUN_PER_POINT = re.compile(r"-lambda[0-9.e+-]+$")


def series(row: dict) -> str:
    """The curve a row belongs to in plots and the summary. Methods that need one training run per point
    (PoWER-BERT's `power-lambda<L>`, LTP's `ltp-lambda<L>`) write one variant per run; their points form one
    curve, named without the lambda. PoWER-BERT's default-lambda run is the variant `power` itself."""
    return _ONE_RUN_PER_POINT.sub("", label(row))


def measured(row: dict, protocol: str, bs: str):
    return row.get(f"speedup_{protocol}", {}).get(bs)


def flops_ratio(row: dict) -> float:
    return row["dense_gflops"] / row["gflops"] if row["gflops"] else float("nan")


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten on both speed (x, higher better) and score (y, higher better)."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return sorted(front)


def md_table(columns: list[str], align: str, rows) -> list[str]:
    """A Markdown table: `align` has one letter per column, l (text) or r (numbers); rows are lists of cells."""
    rule = "".join("---|" if a == "l" else "---:|" for a in align)
    return [f"| {' | '.join(columns)} |", f"|{rule}"] + [f"| {' | '.join(str(c) for c in row)} |" for row in rows]


def _fmt(v, digits=2, suffix=""):
    return "–" if v is None else f"{v:.{digits}f}{suffix}"


def task_table(rows: list[dict]) -> list[str]:
    # F1 alone hides a collapsed paraphrase model (always "yes" scores ~80 F1 on MRPC): accuracy stands beside it
    with_acc = any(r.get("metric") == "f1" for r in rows)
    lines = ["| method | target | score |" + (" accuracy |" if with_acc else "") + " Δ | GFLOPs | FLOPs ratio | predicted | "
             "calibrated (dyn bs32) | padded bs1 | padded bs32 | dynamic bs1 | dynamic bs32 | measured/FLOPs (padded bs32) |",
             "|---|---:|---:|" + ("---:|" if with_acc else "") + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (label(r) != "dense", label(r), r.get("target_speedup") or 0)):
        acc = (r.get("metrics") or {}).get("accuracy")
        acc_cell = (f" {_fmt(None if acc is None else 100 * acc)} |" if with_acc else "")
        pad32 = measured(r, "padded", "32")
        limit = pad32 / r["predicted_speedup"] if pad32 and r.get("predicted_speedup") else None
        cal = (r.get("calibrated_speedup") or {}).get("dynamic", {}).get("32")
        lines.append(
            f"| {label(r)} | {_fmt(r.get('target_speedup'), 2)} | {r['score']:.2f} |{acc_cell} "
            f"{r['score'] - r['dense_score']:+.2f} | "
            f"{r['gflops']:.3f} | {flops_ratio(r):.2f}x | {_fmt(r.get('predicted_speedup'), 2, 'x')} | {_fmt(cal, 2, 'x')} | "
            f"{_fmt(measured(r, 'padded', '1'), 2, 'x')} | {_fmt(pad32, 2, 'x')} | {_fmt(measured(r, 'dynamic', '1'), 2, 'x')} | "
            f"{_fmt(measured(r, 'dynamic', '32'), 2, 'x')} | {_fmt(limit, 2)} |")
    return lines


def best_at_drop(rows: list[dict], protocol: str, drop: float):
    ok = [measured(r, protocol, "32") for r in rows if r["dense_score"] - r["score"] <= drop and measured(r, protocol, "32")]
    return max(ok) if ok else None


def summary_table(by_task: dict[str, list[dict]]) -> list[str]:
    head = " | ".join(f"≤{d} pt: padded / dynamic" for d in DROPS)
    lines = [f"| task | method | {head} |", "|---|---|" + "---:|" * len(DROPS)]
    for task, rows in sorted(by_task.items()):
        groups = defaultdict(list)
        for r in rows:
            if label(r) != "dense":
                groups[series(r)].append(r)
        for name, group in sorted(groups.items()):
            if not any(measured(r, "padded", "32") for r in group):
                continue
            cells = [f"{_fmt(best_at_drop(group, 'padded', d), 2, 'x')} / {_fmt(best_at_drop(group, 'dynamic', d), 2, 'x')}"
                     for d in DROPS]
            lines.append(f"| {task} | {name} | " + " | ".join(cells) + " |")
    return lines


FCA_CLAIM_VARIANTS = ("power", "fca-k1-weighted", "fca-k5-mean")


def padded_flops_ratio(row: dict) -> float | None:
    """Dense / method FLOPs with every input padded to the task length (the papers' protocol)."""
    padded = row.get("gflops_padded")
    return padded["dense"] / padded["method"] if padded else None


def fca_claim_section(by_task: dict[str, list[dict]]) -> list[str]:
    """FCA's claim on our backbone: >= 2x fewer FLOPs (padded protocol) at < 1 point average loss, and FCA
    ahead of PoWER-BERT at the same keep counts (FCA adds only its coarse tokens' FLOPs)."""
    table, drops = [], {v: [] for v in FCA_CLAIM_VARIANTS}
    for task, rows in sorted(by_task.items()):
        found = {r.get("variant"): r for r in rows if r.get("variant") in FCA_CLAIM_VARIANTS and r.get("gflops_padded")}
        if not found:
            continue
        cells = []
        for v in FCA_CLAIM_VARIANTS:
            r = found.get(v)
            if r is None:
                cells.append("–")
                continue
            drops[v].append(r["dense_score"] - r["score"])
            cells.append(f"{r['score']:.2f} ({r['score'] - r['dense_score']:+.2f}), {padded_flops_ratio(r):.2f}x")
        dense = next(iter(found.values()))["dense_score"]
        table.append([task, f"{dense:.2f}", *cells])
    if not table:
        return []
    lines = ["", "## FCA's claim: >= 2x fewer FLOPs at < 1 point loss (padded protocol)", "",
             "Score (change vs dense), FLOPs reduction with every input padded to the task length. All three variants "
             "share one retention search per task, so they keep the same fine tokens per layer.", ""]
    lines += md_table(["task", "dense", *FCA_CLAIM_VARIANTS], "lrrrr", table)
    avg = [f"{v}: {sum(d) / len(d):.2f} points over {len(d)} tasks" for v, d in drops.items() if d]
    lines += ["", "Average loss: " + "; ".join(avg) + "."]
    return lines


def plot_task(task: str, rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    groups = defaultdict(list)
    for r in rows:
        groups[series(r)].append(r)
    dense = rows[0]["dense_score"]
    markers = "osd^v<>P*X"
    names = sorted(n for n in groups if n != "dense")
    style = {n: (plt.cm.tab10(i % 10), markers[i % len(markers)]) for i, n in enumerate(names)}  # same in both panels
    for ax, (xname, xfn) in zip(axes, [("measured speedup vs dense SDPA, dynamic padding, batch 32",
                                         lambda r: measured(r, "dynamic", "32")),
                                        ("FLOPs reduction (dense / method)", flops_ratio)]):
        points = []
        for name in names:
            pts = sorted((xfn(r), r["score"]) for r in groups[name] if xfn(r))
            if not pts:
                continue
            color, marker = style[name]
            ax.plot(*zip(*pts), marker=marker, color=color, ls="-", alpha=0.8, label=name)
            points += pts
        if points:
            front = pareto(points)
            ax.plot(*zip(*front), color="black", lw=2.5, alpha=0.25, label="Pareto frontier")
        ax.axhline(dense, color="grey", ls="--", label="dense")
        ax.axvline(1.0, color="grey", lw=0.5)
        ax.set_xlabel(xname)
        ax.set_ylabel(f"{task} {rows[0]['split']} {rows[0]['metric']} (%)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)  # the right panel has every variant (the left only the timed ones)
    fig.suptitle(f"{task}: accuracy vs speed ({rows[0]['backbone']})")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{task}.png", out_dir / f"{task}.svg"]
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths


def _study_order(r: dict):
    return r["family"], r["placement"], r["target_sparsity"] or 0, r["knob"]


def study_section(rows: list[dict], plot_dir: Path) -> list[str]:
    """`leanbert study sparse` rows: a table per task and one plot (score vs sparsity, family x placement).
    Δ is against the dense checkpoint the cells start from; Δ control against the dense model fine-tuned again
    with the cells' recipe and no mask (`--control`), where the study has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = []
    for task, tuned in sorted({(r["task"], r["epochs"] > 0) for r in rows}):
        task_rows = [r for r in rows if r["task"] == task and (r["epochs"] > 0) == tuned]
        how = "fine-tuned with each mask" if tuned else "masks on the dense checkpoint, no fine-tuning"
        lines += ["", f"### Study: {task}, pattern families at matched sparsity ({how}; learned: knob = lambda)", ""]
        control = next((r["score"] for r in task_rows if r["family"] == "dense-control"), None)
        lines += md_table(["family", "layers", "target sparsity", "knob", "sparsity reached", "fine-tuning epochs", "score", "Δ",
                           "Δ control"], "llrrrrrrr",
                          ([r["family"], r["placement"], _fmt(r.get("target_sparsity"), 2), r["knob"], f"{r['sparsity']:.3f}",
                            f"{r['epochs']:g}", f"{r['score']:.2f}", f"{r['score'] - r['dense_score']:+.2f}",
                            "–" if control is None else f"{r['score'] - control:+.2f}"]
                           for r in sorted(task_rows, key=_study_order)))
        fig, ax = plt.subplots(figsize=(6, 4))
        families = sorted({r["family"] for r in task_rows} - {"dense-control"})
        for i, family in enumerate(families):
            for placement, ls in [(p, "-" if p == "all" else "--") for p in sorted({r["placement"] for r in task_rows})]:
                pts = sorted((r["sparsity"], r["score"]) for r in task_rows
                             if r["family"] == family and r["placement"] == placement)
                if pts:
                    ax.plot(*zip(*pts), marker="osd^v"[i % 5], ls=ls, color=plt.cm.tab10(i), label=f"{family} ({placement})",
                            markerfacecolor="none" if placement == "all" else plt.cm.tab10(i))  # single points: no line to tell
        ax.axhline(task_rows[0]["dense_score"], color="grey", ls="--", label="dense")
        for r in (r for r in task_rows if r["family"] == "dense-control"):  # same fine-tuning, no mask
            ax.axhline(r["score"], color="black", ls=":", label="dense, fine-tuned like the cells (control)")
        ax.set_xlabel("attention sparsity (real tokens)")
        ax.set_ylabel(f"{task} dev {task_rows[0]['metric']} (%)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        plot_dir.mkdir(parents=True, exist_ok=True)
        name = f"{task}_sparse_study" + ("_finetuned" if tuned else "")
        for ext in ("png", "svg"):
            fig.savefig(plot_dir / f"{name}.{ext}", dpi=110)
        plt.close(fig)
        lines += ["", f"![{task} sparse study]({plot_dir.name}/{name}.png)"]
    return lines


def combination_section(rows: list[dict]) -> list[str]:
    """Study 2 rows: per degree pair, the full global + random + neighbour pattern and each component removed."""
    lines = []
    for task in sorted({r["task"] for r in rows}):
        task_rows = [r for r in rows if r["task"] == task]
        cell = {(r["width"], r["n_random"], r["combination"]): r for r in task_rows}
        kinds = ["global+random+neighbour"] + [f"without {c}" for c in ("global", "random", "neighbour")]
        lines += ["", f"### Study 2: {task}, global + random + neighbour and each component removed "
                      f"(layers: {task_rows[0]['placement']}; no fine-tuning; score (sparsity))", ""]
        body = []
        for w, r in sorted({(x["width"], x["n_random"]) for x in task_rows}):
            full = cell.get((w, r, kinds[0]))
            entries = []
            for kind in kinds:
                x = cell.get((w, r, kind))
                delta = "" if x is None or full is None or kind == kinds[0] else f", {x['score'] - full['score']:+.1f}"
                entries.append("–" if x is None else f"{x['score']:.1f} ({x['sparsity']:.2f}{delta})")
            body.append([w, r, *entries])
        lines += md_table(["width", "random", *kinds], "rr" + "r" * len(kinds), body)
        lines += ["", f"Dense: {task_rows[0]['dense_score']:.2f}. A removed component's cell shows its score change "
                      "against the full pattern of the same degrees."]
    return lines


def sparse_section(results_dir: Path, plot_dir: Path | None = None) -> list[str]:
    rows = []
    for path in sorted((Path(results_dir) / "sparse").glob("*.jsonl")):
        rows += atomic.read_jsonl(path)
    study = [r for r in rows if r.get("study") == "sparse"]
    combos = [r for r in rows if r.get("study") == "combination"]
    rows = [r for r in rows if r.get("study") not in ("sparse", "combination")]
    extra = study_section(study, plot_dir or Path(results_dir) / "plots") if study else []
    extra += combination_section(combos) if combos else []
    if not rows:
        return extra
    lines = ["", "## Sparse attention patterns, applied without fine-tuning (results/sparse/)", "",
             "Masks applied to the dense fine-tuned checkpoint as it is (the paper fine-tunes with the mask).",
             "Sparsity: mean over patterned layers and dev examples, real tokens only.", "",
             "| task | pattern | first patterned layer | sparsity | score | Δ |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        pattern, _, start = r["variant"].rpartition("-from")
        lines.append(f"| {r['task']} | {pattern} | {start} | {r['sparsity']:.3f} | {r['score']:.2f} | "
                     f"{r['score'] - r['dense_score']:+.2f} |")
    return lines + ["", f"Command: `{rows[0]['command'].split(' --width')[0].split(' --random')[0]} ...` "
                        "(plan step sparse/mrpc_zeroshot)"] + extra


def speed_rows(results_dir: Path, name: str) -> list[dict]:
    """Rows of results/speed/NAME.jsonl ([] when the file is absent)."""
    path = Path(results_dir) / "speed" / f"{name}.jsonl"
    if not path.is_file():
        return []
    return atomic.read_jsonl(path)


def deployment_section(results_dir: Path) -> list[str]:
    """ONNX export checks and onnxruntime vs PyTorch latency; the HTTP server's load test."""
    lines = []
    onnx = speed_rows(results_dir, "onnx")
    if onnx:
        lines += ["", "## ONNX export (results/speed/onnx.jsonl, benchmarks/onnx_speed.py)", "",
                  "Same dynamically padded dev batches, one thread each. `vs dense` compares each runtime with its own "
                  "dense model in the same run; max |diff| is onnxruntime vs PyTorch on the logits over the checked lengths.", ""]
        lines += md_table(["task", "target", "batch", "PyTorch s", "ORT s", "ORT/PyTorch speedup", "vs dense (PyTorch)",
                           "vs dense (ORT)", "lengths checked", "max abs diff"], "lrrrrrrrlr",
                          ([r["task"], r["target_speedup"], r["batch_size"], f"{r['torch_seconds']:.3f}",
                            f"{r['onnx_seconds']:.3f}", f"{r['onnx_vs_torch']:.2f}x",
                            f"{r['speedup_vs_dense']['torch']:.2f}x", f"{r['speedup_vs_dense']['onnx']:.2f}x",
                            ",".join(str(n) for n in dict.fromkeys(c["length"] for c in r["export_checks"])),
                            f"{max(c['max_abs_diff'] for c in r['export_checks']):.1e}"] for r in onnx))
    serve = speed_rows(results_dir, "serve")
    if serve:
        lines += ["", "## HTTP server load test (results/speed/serve.jsonl, benchmarks/load_test.py)", ""]
        lines += md_table(["checkpoint", "speedup", "texts/request", "clients", "requests", "errors", "requests/s", "texts/s",
                           "p50 ms", "p90 ms", "p99 ms"], "lrrrrrrrrrr",
                          ([r["checkpoint"], r["speedup"], r["texts_per_request"], r["clients"], r["requests"], r["errors"],
                            f"{r['requests_per_s']:.1f}", f"{r['texts_per_s']:.0f}",
                            *(f"{r['latency_ms'][q]:.0f}" for q in ("p50", "p90", "p99"))] for r in serve))
    return lines


def sparse_speed_section(results_dir: Path) -> list[str]:
    """Banded sparse attention at 512 tokens (benchmarks/sparse_speed.py): core, sub-layer, whole model."""
    rows = speed_rows(results_dir, "sparse_512")
    if not rows:
        return []
    alone = [r for r in rows if "composed_with" not in r]
    composed = [r for r in rows if "composed_with" in r]
    lines = ["", "## Banded sparse attention at 512 tokens (results/speed/sparse_512.jsonl, benchmarks/sparse_speed.py)", "",
             "Speedups against dense SDPA in the same run, one thread. Core = softmax(QK^T)V of layer 0, where a pattern "
             "acts; sub-layer adds the Q/K/V/output projections; model = all 6 layers patterned.", ""]
    lines += md_table(["batch", "width", "sparsity", "core", "attention sub-layer", "whole model", "vs masked SDPA (model)",
                       "FLOPs ratio", "max diff vs masked"], "rrrrrrrrr",
                      ([r["batch_size"], r["width"], f"{r['sparsity']:.3f}",
                        *(f"{r[k]:.2f}x" for k in ("attention_core_speedup_vs_dense", "attention_speedup_vs_dense",
                                                   "model_speedup_vs_dense", "model_speedup_vs_masked", "flops_ratio")),
                        f"{r['max_abs_logit_diff_banded_vs_masked']:.1e}"] for r in alone))
    if composed:
        lines += ["", "Composed with ACC (same documents, speedup vs dense):", ""]
        lines += md_table(["batch", "ACC target", "width", "ACC alone", "ACC + masked pattern", "ACC + banded pattern"], "rrrrrr",
                          ([r["batch_size"], r["target_speedup"], r["width"],
                            *(f"{r['speedup_vs_dense'][k]:.2f}x" for k in ("acc", "acc+masked", "acc+banded"))]
                           for r in composed))
    return lines


def _rounds_text(rounds) -> str:
    """A row's rounds: one count (older rows) or {batch size: count}."""
    if isinstance(rounds, dict):
        return ", ".join(f"{n} at batch {bs}" for bs, n in sorted(rounds.items(), key=lambda kv: int(kv[0])))
    return str(rounds)


def repeatability_section(results_dir: Path) -> list[str]:
    """One table per results/speed/repeatability*.jsonl (a file per protocol of the benchmark, e.g. its rounds)."""
    lines = []
    for path in sorted((Path(results_dir) / "speed").glob("repeatability*.jsonl")):
        rows = atomic.read_jsonl(path)
        by_target = defaultdict(list)
        for r in rows:
            by_target[r["target_speedup"]].append(r)
        rounds = sorted({_rounds_text(r.get("rounds", "-")) for r in rows})
        processes = len({r.get("run_id") for r in rows})  # rows before run ids: one process
        heap = sorted({r.get("allocator", "default") for r in rows})
        lines += ["", f"## Repeatability ({path.relative_to(Path(results_dir).parent)})", "",
                  f"The same benchmark run {max(len(g) for g in by_target.values())} times in {processes} "
                  f"process{'es' if processes > 1 else ''} (runs in file order), dense baselines re-measured beside "
                  f"every config ({'/'.join(rounds)} alternating rounds); allocator: {', '.join(heap)}; "
                  "spread = (max - min) / mean.", "",
                  "| target | protocol | batch | runs | spread |", "|---:|---|---:|---|---:|"]
        for target, group in sorted(by_target.items()):
            for protocol in ("padded", "dynamic"):
                for bs in sorted(group[0][protocol], key=int):
                    vals = [g[protocol][bs] for g in group]
                    spread = (max(vals) - min(vals)) / (sum(vals) / len(vals))
                    ratios = " / ".join(f"{v:.2f}x" for v in vals)
                    lines.append(f"| {target} | {protocol} | {bs} | {ratios} | {100 * spread:.1f}% |")
    return lines


def write_report(results_dir: Path, out: Path, preamble: str = "") -> Path:
    rows = load_rows(results_dir)
    by_task = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    lines = [preamble.rstrip(), "", "## Summary: best measured speedup at batch 32 within a given drop", ""]
    lines += summary_table(by_task)
    lines += fca_claim_section(by_task)
    for task, task_rows in sorted(by_task.items()):
        plots = plot_task(task, task_rows, out.parent / "plots")
        first = task_rows[0]
        lines += ["", f"## {task} ({first['split']}, {first['metric']})", "", f"![{task}](plots/{plots[0].name})", ""]
        lines += task_table(task_rows)
        lines += ["", "Commands:", ""] + [f"- `{c}`" for c in dict.fromkeys(r["command"] for r in task_rows)]
        lines += ["", f"Threads: {first['threads']}; versions: {json.dumps(first['versions'])}"]
    lines += sparse_section(results_dir, out.parent / "plots") + sparse_speed_section(results_dir)
    lines += repeatability_section(results_dir) + deployment_section(results_dir)
    if (Path(results_dir) / "speed" / "bert_base.jsonl").is_file():
        lines += ["", "## BERT-base scale", "", "See [speed_bert_base.md](speed_bert_base.md) (results/speed/bert_base.jsonl)."]
    atomic.write_text(out, "\n".join(lines) + "\n")
    return out
