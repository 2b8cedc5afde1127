"""Re-measure the scores of committed result rows on equal-length batches (runner.EVAL_BATCHES).

Rows written before the change were scored on length-sorted batches of 64, where the short rows of a batch keep
more tokens than the per-example FLOPs column assumes. This re-evaluates each such row's config on its own
checkpoint and split, replaces `score` and `metrics`, keeps the old score as `score_sorted_batches`, and leaves
the timings alone (they never depended on the evaluation batches). Resumable: rows already marked
`eval_batches` are skipped, and each checkpoint's rows are written back as soon as they are done.

    taskset -c 1 python -m benchmarks.rescore results/mrpc.jsonl ...

A maintenance tool, not a producer of any results file (the plan, `python -m benchmarks plan`, lists those).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from leanbert import atomic
from leanbert.engine.api import applied
from leanbert.engine.config import config_from_dict
from leanbert.measure.runner import EVAL_BATCHES, load_split, score_config


def _stale(row: dict) -> bool:
    return row["method"] != "dense" and "eval_batches" not in row and bool(row.get("checkpoint"))


def _write_back(path: Path, updates: dict[str, dict]) -> None:
    """Replace rows by their exact old text, re-reading the file first: other scripts may append meanwhile."""
    lines = path.read_text().splitlines(keepends=True)
    new = [json.dumps(updates[line.strip()]) + "\n" if line.strip() in updates else line for line in lines]
    atomic.write_text(path, "".join(new))


def rescore(path: Path, data_dir: str) -> None:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip() and _stale(row := json.loads(line)):
            groups[(row["checkpoint"], row["task"], row["split"], row.get("max_length"))].append(line.strip())
    for (checkpoint, task, split, max_length), lines in groups.items():
        if not Path(checkpoint).exists():
            print(f"skip {len(lines)} rows: checkpoint {checkpoint} is missing", flush=True)
            continue
        tokenizer, model, _, spec, ds, _ = load_split(checkpoint, task, split, data_dir, max_length)
        updates = {}
        for line in lines:
            row = json.loads(line)
            cfg = config_from_dict(row["config"])
            with applied(model, cfg):
                result = score_config(model, tokenizer, ds, spec, cfg)
            print(f"{task} {row.get('variant')} {row.get('target_speedup')}: {row['score']:.2f} -> {result['score']:.2f}",
                  flush=True)
            updates[line] = {**row, "score_sorted_batches": row["score"], "score": result["score"],
                             "metrics": result["metrics"], "eval_batches": EVAL_BATCHES}
        _write_back(path, updates)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--data-dir", default="../shared/data/glue")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    torch.set_num_threads(1)
    for path in args.files:
        rescore(path, args.data_dir)


if __name__ == "__main__":
    main()
