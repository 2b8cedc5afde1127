"""Re-score committed result rows on the code as it is now and compare: does a row's checkpoint, re-evaluated
with the row's config on its split, give the same score and the same analytic FLOPs?

    taskset -c 1 python -m benchmarks.verify_rows results/mrpc.jsonl --variants dense,elastic

Only rows whose checkpoint exists here are checked (the others are counted as skipped); timings are not
re-measured. A maintenance check, not a producer of any results file: it prints one JSON line per row and a
summary, and exits 1 if any checked row differs (score beyond `--tolerance`, FLOPs beyond 1e-9 relative).
A re-trained checkpoint only matches if training reproduced it exactly; the dense rows' train logs say so.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from leanbert.engine.api import applied
from leanbert.engine.config import config_from_dict
from leanbert.engine.registry import build_method
from leanbert.measure.flops import mean_gflops
from leanbert.measure.runner import load_split, score_config


def check_group(checkpoint: str, task: str, split: str, max_length, rows: list[dict], data_dir: str, tolerance: float):
    """One comparison per row of one checkpoint and split."""
    tokenizer, model, _, spec, ds, _ = load_split(checkpoint, task, split, data_dir, max_length)
    for row in rows:
        cfg = None if row["method"] == "dense" else config_from_dict(row["config"])
        with applied(model, cfg):
            score = score_config(model, tokenizer, ds, spec, cfg)["score"]
        gflops = mean_gflops(ds.lengths(), model.config, build_method(cfg) if cfg is not None else None)
        same = abs(score - row["score"]) <= tolerance and abs(gflops - row["gflops"]) <= 1e-9 * row["gflops"]
        yield {"task": task, "variant": row.get("variant"), "target_speedup": row.get("target_speedup"),
               "committed_score": row["score"], "score": round(score, 3), "committed_gflops": row["gflops"],
               "gflops": gflops, "commit": row.get("commit"), "same": same}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--variants", default="", help="comma-separated variants to check (default: every row)")
    ap.add_argument("--tolerance", type=float, default=0.0005, help="score difference allowed (rows keep 3 decimals)")
    ap.add_argument("--data-dir", default="../shared/data/glue")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    wanted = {v for v in args.variants.split(",") if v}
    groups, skipped = defaultdict(list), 0
    for path in args.files:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if (wanted and row.get("variant") not in wanted) or not row.get("checkpoint"):
                continue
            if not Path(row["checkpoint"]).exists():
                skipped += 1
                continue
            groups[(row["checkpoint"], row["task"], row["split"], row.get("max_length"))].append(row)
    checked = []
    for (checkpoint, task, split, max_length), rows in groups.items():
        for result in check_group(checkpoint, task, split, max_length, rows, args.data_dir, args.tolerance):
            checked.append(result)
            print(json.dumps(result), flush=True)
    differ = [r for r in checked if not r["same"]]
    print(json.dumps({"checked": len(checked), "identical": len(checked) - len(differ), "differ": len(differ),
                      "skipped_missing_checkpoint": skipped}), flush=True)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
