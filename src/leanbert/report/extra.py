"""Report sections for result files outside the per-task tables: sentence embeddings (results/embeddings/) and the
12-layer backbone (results/mpnet/<task>.jsonl, rows with the same task names as the MiniLM files, so kept apart)."""
from __future__ import annotations

from pathlib import Path

from .. import atomic
from .render import md_table, task_table

SHIPPED = "all-MiniLM-L6-v2"
QUALITY_FILES = ("minilm", "minilm_distilled", "minilm_distilled_strong")  # results/embeddings/NAME.jsonl


def _rows(path: Path) -> list[dict]:
    return atomic.read_jsonl(path) if path.is_file() else []


def _kind(row: dict) -> str:
    """`training-free` for the shipped encoder, `distilled` for a checkpoint `leanbert embed-distill` made."""
    return "training-free" if row.get("model", SHIPPED) in (SHIPPED, "default") else "distilled"


def _unique(rows: list[dict]) -> list[dict]:
    """One row per (model, variant, pooling, start layer, speedup, tasks): a file that re-scores the training-free
    grid beside its distilled rows repeats some of minilm.jsonl's; the first one read is kept."""
    seen, out = set(), []
    for r in rows:
        key = (_kind(r), r["model"] if _kind(r) == "distilled" else SHIPPED, r["variant"], r["pooling"],
               r["start_layer"], r["target_speedup"], tuple(r["tasks"]))
        if key not in seen:
            seen.add(key), out.append(r)
    return out


def embeddings_section(results_dir: Path, plots_dir: Path) -> list[str]:
    """STS-B dev Spearman against counted FLOPs for every training-free and distilled encoder, with the measured
    speed of the same config (a distilled model runs the same profile, so it costs what the training-free one
    does) where results/embeddings/minilm_speed.jsonl timed it."""
    folder = Path(results_dir) / "embeddings"
    every = [r for name in QUALITY_FILES for r in _rows(folder / f"{name}.jsonl")]
    rows = _unique([r for r in every if "stsb_spearman" in r])
    if not rows:
        return []
    speed = {(r["method"], r["target_speedup"]): r for r in _rows(folder / "minilm_speed.jsonl")}
    dense = next((r["stsb_spearman"] for r in rows if r["variant"] == "dense" and _kind(r) == "training-free"), None)
    table = []
    for r in sorted(rows, key=lambda r: (_kind(r), r["variant"], r["pooling"], r["target_speedup"])):
        timed = speed.get((r["method"], r["target_speedup"]), {}) if r["start_layer"] == 0 else {}
        delta = "" if dense is None else f"{r['stsb_spearman'] - dense:+.2f}"
        table.append([_kind(r), r["model"], r["variant"], r["pooling"], f"{r['target_speedup']:g}", f"{r['flops_ratio']:.2f}",
                      f"{r['stsb_spearman']:.2f}", delta, *(_speed(timed, bs) for bs in ("32", "1"))])
    plot = plot_embeddings(rows, plots_dir)
    lines = ["", "## Sentence embeddings: STS-B dev Spearman vs FLOPs (results/embeddings/)", "",
             f"Zero-shot cosine similarity of mean-pooled embeddings; Δ against the dense shipped encoder ({dense}). "
             "Measured: results/embeddings/minilm_speed.jsonl at the same config (dynamic padding, 1 thread), blank "
             "where not timed.", "", f"![embeddings](plots/{plot.name})", ""]
    lines += md_table(["kind", "model", "variant", "pooling", "target", "FLOPs ratio", "Spearman", "Δ",
                       "measured bs32", "measured bs1"], "llllrrrrrr", table)
    return lines + _retrieval_table(_unique([r for r in every if "bbc_map" in r]))


def _retrieval_table(rows: list[dict]) -> list[str]:
    """BBC retrieval MAP and MRPC pair AUC (rows that measured them; FLOPs counted over both sets' texts)."""
    if not rows:
        return []
    table = [[_kind(r), r["model"], r["variant"], r["pooling"], f"{r['target_speedup']:g}", f"{r['flops_ratio']:.2f}",
              f"{r['bbc_map']:.2f}", f"{r['mrpc_auc']:.2f}" if "mrpc_auc" in r else ""]
             for r in sorted(rows, key=lambda r: (_kind(r), r["model"], r["variant"], r["target_speedup"]))]
    return ["", "BBC test retrieval MAP (each article queries the others; relevant = same category) and MRPC dev pair "
            "AUC, zero-shot:", ""] + md_table(["kind", "model", "variant", "pooling", "target", "FLOPs ratio",
                                               "BBC MAP", "MRPC AUC"], "llllrrrr", table)


def _speed(row: dict, bs: str) -> str:
    value = row.get("speedup_dynamic", {}).get(bs)
    return "" if value is None else f"{value:.2f}x"


def plot_embeddings(rows: list[dict], plots_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    dense = [r for r in rows if r["variant"] == "dense"]
    curves = {}
    for r in rows:
        if r["variant"] != "dense":
            model = "" if _kind(r) == "training-free" else f" {Path(r['model']).name}"
            curves.setdefault(f"{_kind(r)}{model} {r['variant']} ({r['pooling']}, from layer {r['start_layer']})",
                              []).append(r)
    for name, points in sorted(curves.items()):
        base = [d for d in dense if _kind(d) == _kind(points[0]) and (_kind(d) == "training-free"
                                                                       or d["model"] == points[0]["model"])]
        points = sorted(base[:1] + points, key=lambda r: r["flops_ratio"])
        ax.plot([p["flops_ratio"] for p in points], [p["stsb_spearman"] for p in points], marker="o", label=name)
    ax.set_xlabel("FLOPs ratio (dense / reduced)"), ax.set_ylabel("STS-B dev Spearman")
    ax.legend(fontsize=7), ax.grid(alpha=0.3)
    path = plots_dir / "embeddings_stsb.png"
    fig.tight_layout(), fig.savefig(path, dpi=120), plt.close(fig)
    return path


def backbone_sections(results_dir: Path) -> list[str]:
    """One table per task of each backbone folder (results/mpnet/*.jsonl), in the per-task table's format."""
    lines = []
    for path in sorted(Path(results_dir).glob("mpnet/*.jsonl")):
        rows = atomic.read_jsonl(path)
        if not rows:
            continue
        first = rows[0]
        where = f"{first['split']}, {first['metric']}; {path.relative_to(results_dir)}"
        lines += ["", f"## {first['backbone']}: {first['task']} ({where})", ""]
        lines += task_table(rows)
        lines += ["", "Commands:", ""] + [f"- `{c}`" for c in dict.fromkeys(r["command"] for r in rows)]
    return lines
