"""ACC profiles at BERT-base scale (12 x 768, random weights): measured speedup against both dense
baselines at 128 tokens (MRPC dev text) and 512 tokens (BBC test text), batch 1 and a larger batch.

With fixed keep counts per layer, the work done -- and so the speedup -- does not depend on the weights.
Writes results/speed/bert_base.jsonl (speed-only rows: no accuracy) and docs/speed_bert_base.md; the plan's
step speed/bert_base (`python -m benchmarks plan --only speed`) runs it pinned to one core, one thread:

    python -m benchmarks.bert_base_speed --threads 1 --speedups 2,3,4 --data-dir ../shared/data/glue
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from leanbert import ACCConfig, atomic
from leanbert.data.batching import encode
from leanbert.measure.bench import SpeedBench
from leanbert.data.datasets import load_task
from leanbert.measure.flops import mean_gflops
from leanbert.engine.registry import build_method
from leanbert.engine.models import load_tokenizer
from leanbert.report.results import stamp
from leanbert.core.schedule import keep_counts, predicted_speedup, solve_fractions

SETTINGS = [  # task, split, length, {batch size: examples timed}
    ("mrpc", "dev", 128, {1: 8, 32: 32}),
    ("bbc", "test", 512, {1: 2, 8: 8}),
]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speedups", default="1.5,2,3,4,5")
    ap.add_argument("--min-run-time", type=float, default=0.5)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=Path("results/speed/bert_base.jsonl"))
    ap.add_argument("--markdown", type=Path, default=Path("docs/speed_bert_base.md"))
    return ap


def main():
    args = build_parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = BertConfig(num_labels=2, attn_implementation="sdpa")  # BERT-base: 12 x 768, FFN 3072
    model = BertForSequenceClassification(cfg).eval()
    tokenizer = load_tokenizer(None)  # all-MiniLM-L6-v2 uses BERT-base's uncased vocabulary
    rows = []
    for task, split, n0, sizes in SETTINGS:
        ds, _ = encode(tokenizer, load_task(task, args.data_dir, splits=(split,)).split(split), n0)
        bench = SpeedBench(model, tokenizer, ds, n0, tuple(sizes), sizes, args.min_run_time, calibrate=False)
        for target in [float(s) for s in args.speedups.split(",")]:
            acc = ACCConfig(keep_fractions=solve_fractions(target, 12, n0, 768, 3072))
            plan = keep_counts(n0, fractions=acc.keep_fractions)
            timing = bench.speedups(acc)
            rows.append({"task": task, "split": split, "max_length": n0, "backbone": "bert-base (random weights)",
                         "method": "acc", "target_speedup": target, "config": acc.to_dict(), "plan": plan,
                         "predicted_speedup": round(predicted_speedup(plan, n0, 768, 3072), 3),
                         "flops_ratio_dynamic": round(mean_gflops(ds.lengths(), cfg)
                                                      / mean_gflops(ds.lengths(), cfg, build_method(acc)), 3),
                         "speedup_padded": timing["padded"], "speedup_dynamic": timing["dynamic"],
                         "timing_seconds": timing["seconds"], "threads": args.threads,
                         "command": "python -m benchmarks.bert_base_speed " + " ".join(sys.argv[1:])})
            stamp(rows[-1])
            shown = ("task", "target_speedup", "predicted_speedup", "speedup_padded", "speedup_dynamic")
            print(json.dumps({k: rows[-1][k] for k in shown}))
    atomic.write_text(args.out, "".join(json.dumps(r) + "\n" for r in rows))
    write_markdown(rows, args.markdown)


def write_markdown(rows, path: Path):
    lines = ["# ACC speed at BERT-base scale (random weights)", "",
             f"Command: `{rows[0]['command']}`; threads {rows[0]['threads']}; CPU {rows[0]['versions']['cpu']}.", "",
             "| task | length | target | predicted (FLOPs, padded) | FLOPs ratio (dynamic) | padded bs1 | padded large bs "
             "| dynamic bs1 | dynamic large bs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p, d = r["speedup_padded"], r["speedup_dynamic"]
        big = max(p, key=int)
        lines.append(f"| {r['task']} | {r['max_length']} | {r['target_speedup']} | {r['predicted_speedup']:.2f}x | "
                     f"{r['flops_ratio_dynamic']:.2f}x | {p['1']:.2f}x | {p[big]:.2f}x (bs{big}) | "
                     f"{d['1']:.2f}x | {d[big]:.2f}x (bs{big}) |")
    atomic.write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
