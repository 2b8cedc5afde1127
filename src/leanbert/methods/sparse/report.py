"""The sparse attention sections of the results report: the study grids, the combinations, the kernels' speed."""
from __future__ import annotations

from pathlib import Path

from ... import atomic
from ...report.render import _fmt, md_table
from ...report.speed import speed_rows


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
