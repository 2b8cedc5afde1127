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


def write_report(results_dir: Path, out: Path, preamble: str = "") -> Path:
    """The whole report: the generic tables and plots, then the method folders' and the speed sections."""
    from ..methods.fca.report import fca_claim_section
    from ..methods.sparse.report import sparse_section, sparse_speed_section
    from .extra import backbone_sections, embeddings_section
    from .speed import deployment_section, repeatability_section

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
    lines += backbone_sections(results_dir) + embeddings_section(results_dir, out.parent / "plots")
    if (Path(results_dir) / "speed" / "bert_base.jsonl").is_file():
        lines += ["", "## BERT-base scale", "", "See [speed_bert_base.md](speed_bert_base.md) (results/speed/bert_base.jsonl)."]
    atomic.write_text(out, "\n".join(lines) + "\n")
    return out
