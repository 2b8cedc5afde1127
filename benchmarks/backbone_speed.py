"""Speed of ACC profiles and PoWER-BERT schedules on a pretrained backbone (default all-mpnet-base-v2,
12 x 768, eager attention: Hugging Face has no SDPA path for MPNet): measured speedup against both dense
baselines (padded and dynamic padding) at batch 1 and 32 on 128 tokens (MRPC dev text) and batch 1 and 8 on
512 tokens (BBC test text), with the FLOPs ratio beside each, so measured / FLOPs shows what the reduction
keeps. The classification head is new (random): with fixed keep counts per layer, the work done does not
depend on the head. Writes results/speed/<name>.jsonl and docs/speed_<name>.md:

    python -m benchmarks.backbone_speed --model all-mpnet-base-v2 --threads 1 --speedups 2,3,4 \
        --data-dir ../shared/data/glue
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from leanbert import ACCConfig, PowerConfig, atomic
from leanbert.data.batching import encode
from leanbert.measure.bench import SpeedBench
from leanbert.data.datasets import load_task
from leanbert.measure.flops import mean_gflops, model_dims
from leanbert.engine.registry import build_method
from leanbert.engine.models import backbone_name, load_classifier, load_tokenizer, resolve_model_dir
from leanbert.report.results import stamp
from leanbert.core.schedule import keep_counts, solve_fractions

SETTINGS = [  # task, split, length, {batch size: examples timed}
    ("mrpc", "dev", 128, {1: 8, 32: 32}),
    ("bbc", "test", 512, {1: 2, 8: 8}),
]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all-mpnet-base-v2", help="a named backbone or a local directory")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--speedups", default="2,3,4")
    ap.add_argument("--rounds", type=int, default=3, help="alternating dense/method rounds per measurement")
    ap.add_argument("--min-run-time", type=float, default=0.5)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=Path("results/speed/mpnet.jsonl"))
    ap.add_argument("--markdown", type=Path, default=Path("docs/speed_mpnet.md"))
    return ap


def configs(target: float, n0: int, hf_config) -> dict:
    """The ACC profile and the PoWER-BERT schedule (the same counts, absolute) for `target` x fewer FLOPs."""
    hidden, ffn, layers, _ = model_dims(hf_config)
    fractions = solve_fractions(target, layers, n0, hidden, ffn)
    return {"acc": ACCConfig(keep_fractions=fractions),
            "power": PowerConfig(keep_counts=tuple(keep_counts(n0, fractions=fractions)))}


def main():
    args = build_parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, tokenizer = load_classifier(args.model, num_labels=2), load_tokenizer(args.model)
    name = backbone_name(resolve_model_dir(args.model))
    rows = []
    for task, split, n0, sizes in SETTINGS:
        ds, _ = encode(tokenizer, load_task(task, args.data_dir, splits=(split,)).split(split), n0)
        bench = SpeedBench(model, tokenizer, ds, n0, tuple(sizes), sizes, args.min_run_time, calibrate=False,
                           rounds=args.rounds)
        for target in [float(s) for s in args.speedups.split(",")]:
            for method, config in configs(target, n0, model.config).items():
                timing = bench.speedups(config)
                flops = mean_gflops(ds.lengths(), model.config) / mean_gflops(ds.lengths(), model.config, build_method(config))
                rows.append({"task": task, "split": split, "max_length": n0, "backbone": name,
                             "attn_implementation": model.config._attn_implementation, "method": method,
                             "target_speedup": target, "config": config.to_dict(), "flops_ratio_dynamic": round(flops, 3),
                             "speedup_padded": timing["padded"], "speedup_dynamic": timing["dynamic"],
                             "spread": timing["spread"], "timing_seconds": timing["seconds"], "threads": args.threads,
                             "command": "python -m benchmarks.backbone_speed " + " ".join(sys.argv[1:])})
                stamp(rows[-1])
                print(json.dumps({k: rows[-1][k] for k in ("task", "method", "target_speedup", "flops_ratio_dynamic",
                                                           "speedup_padded", "speedup_dynamic")}), flush=True)
    atomic.write_text(args.out, "".join(json.dumps(r) + "\n" for r in rows))
    write_markdown(rows, args.markdown)


def write_markdown(rows, path: Path):
    first = rows[0]
    lines = [f"# Speed on {first['backbone']} ({first['attn_implementation']} attention), measured", "",
             f"Command: `{first['command']}`; threads {first['threads']}; CPU {first['versions']['cpu']}. Median of "
             "alternating dense/method rounds; measured / FLOPs = dynamic large-batch speedup over the FLOPs ratio.", "",
             "| task | length | method | target | FLOPs ratio | padded bs1 | padded large bs | dynamic bs1 "
             "| dynamic large bs | measured / FLOPs |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p, d = r["speedup_padded"], r["speedup_dynamic"]
        big = max(p, key=int)
        lines.append(f"| {r['task']} | {r['max_length']} | {r['method']} | {r['target_speedup']:g} | "
                     f"{r['flops_ratio_dynamic']:.2f}x | {p['1']:.2f}x | {p[big]:.2f}x (bs{big}) | {d['1']:.2f}x | "
                     f"{d[big]:.2f}x (bs{big}) | {d[big] / r['flops_ratio_dynamic']:.2f} |")
    atomic.write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
