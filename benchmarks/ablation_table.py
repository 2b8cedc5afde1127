"""The elastic recipe's ablation as tables: `python -m benchmarks.ablation_table` reads results/ablation/<task>.jsonl
and writes docs/ablation.md (one table per task: a row per variant in the order the recipe is built up, a column
per budget with the dev score, its change against the dense teacher and, for MRPC, accuracy beside F1, because F1
alone hides a model that always answers "paraphrase").
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .plan_studies import ABLATION_TASKS, ABLATION_VARIANTS

ORDER = ("elastic-old", *ABLATION_VARIANTS, "elastic-geometric")
WHAT = {"elastic-old": "old recipe (one geometric profile per batch, labels only)",
        "elastic-sandwich": "sandwich rule (full + smallest + 2 random), labels",
        "elastic-inplace": "+ in-place distillation from the full model",
        "elastic-teacher": "+ distillation from the dense teacher",
        "elastic-rank1ep": "+ ranking distillation (the full recipe)",
        "elastic-range3": "the full recipe, trained on budgets up to 3x (not 5x)",
        "elastic-geometric": "the full recipe's checkpoint, geometric profiles instead of searched"}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def cell(row: dict) -> str:
    delta = row["score"] - row["dense_score"]
    text = f"{row['score']:.2f} ({delta:+.2f})"
    accuracy = row.get("metrics", {}).get("accuracy")
    if row.get("metric") == "f1" and accuracy is not None:
        text += f" / {100 * accuracy:.1f}%"
    return text


def table(task: str, rows: list[dict]) -> list[str]:
    budgets = sorted({r["target_speedup"] for r in rows})
    teacher = {r["dense_score"] for r in rows}
    metric = rows[0].get("metric", "score")
    head = [f"## {task.upper()} (dev {metric}; in brackets the change against the dense teacher, "
            f"{'/'.join(f'{t:.2f}' for t in sorted(teacher))})", "",
            "| variant | what | " + " | ".join(f"{b:g}x" for b in budgets) + " |",
            "|---|---|" + "---:|" * len(budgets)]
    body = []
    for variant in ORDER:
        mine = {r["target_speedup"]: r for r in rows if r["variant"] == variant}
        if mine:
            cells = [cell(mine[b]) if b in mine else "-" for b in budgets]
            body.append(f"| {variant} | {WHAT[variant]} | " + " | ".join(cells) + " |")
    return head + body + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results/ablation")
    ap.add_argument("--out", default="docs/ablation.md")
    args = ap.parse_args(argv)
    lines = ["# Elastic recipe ablation (generated: `python -m benchmarks.ablation_table`)", "",
             "MiniLM-L6, 1 epoch per variant from the same dense teacher, profiles searched on a held-out slice of",
             "the training data (population 4, 1 generation), scored on dev on equal-length batches (scores only:",
             "equal budgets cost equal FLOPs). Reading: docs/analysis.md.", ""]
    for task in ABLATION_TASKS:
        rows = load(Path(args.results) / f"{task}.jsonl")
        if rows:
            lines += table(task, rows)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
