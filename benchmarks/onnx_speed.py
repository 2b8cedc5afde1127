"""onnxruntime vs PyTorch latency for dense and reduced models, on the same real dev batches, one thread each.

    taskset -c 1 python -m benchmarks.onnx_speed --checkpoint runs/mrpc/acc/best --task mrpc --speedups 2,3 \
        --data-dir ../shared/data/glue --out results/speed/onnx.jsonl   # the plan's step speed/onnx

Each config is exported with `leanbert.deploy.export.export_and_verify` (so the row carries the ONNX-vs-PyTorch
differences at three lengths), then both runtimes time the same dynamically padded batches of dev text at
batch 1 and 32. Ratios in a row compare runtimes within this run only.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch.utils import benchmark

from leanbert.engine.api import applied, current_config
from leanbert.measure.bench import make_batches, sample_dataset, time_batches
from leanbert.deploy.export import INPUT_NAMES, export_and_verify, onnx_session
from leanbert.report.results import append
from leanbert.measure.configs import configs_for
from leanbert.measure.runner import load_split


def time_onnx(session, batches, min_run_time: float) -> float:
    feeds = [{n: b[n].numpy() for n in INPUT_NAMES} for b in batches]

    def run():
        for f in feeds:
            session.run(None, f)

    run()  # warm-up
    return benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=1).blocked_autorange(
        min_run_time=min_run_time).median


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--task", required=True)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--speedups", default="2,3")
    ap.add_argument("--batch-sizes", default="1,32")
    ap.add_argument("--examples", default="32,128", help="dev examples timed per batch size")
    ap.add_argument("--min-run-time", type=float, default=2.0)
    ap.add_argument("--data-dir", default=None, help="glue_data directory (or LEANBERT_GLUE_DIR)")
    ap.add_argument("--out", type=Path, default=Path("results/speed/onnx.jsonl"))
    return ap


def main() -> None:
    args = build_parser().parse_args()
    torch.set_num_threads(1)
    tokenizer, model, _, spec, ds, n0 = load_split(args.checkpoint, args.task, args.split, args.data_dir, None)
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    examples = [int(x) for x in args.examples.split(",")]
    batches = {bs: make_batches(sample_dataset(ds, n), tokenizer, bs, None) for bs, n in zip(sizes, examples)}
    configs = [(1.0, None)] + configs_for("acc", [float(s) for s in args.speedups.split(",")], [], model.config, n0)
    dense = {}  # batch size -> (torch, onnx) seconds of the dense model, measured first
    with tempfile.TemporaryDirectory() as tmp:
        for target, config in configs:
            with applied(model, config):
                info = export_and_verify(model, Path(tmp) / "model.onnx")
                session = onnx_session(Path(tmp) / "model.onnx", threads=1)
                for bs, bb in batches.items():  # PyTorch times the exported config (min_tokens raised to 2)
                    torch_s = time_batches(model, bb, current_config(model), args.min_run_time)
                    onnx_s = time_onnx(session, bb, args.min_run_time)
                    dense.setdefault(bs, (torch_s, onnx_s))
                    row = {"task": spec.name, "checkpoint": args.checkpoint, "target_speedup": target,
                           "config": info["leanbert"], "batch_size": bs, "examples": sum(len(b["input_ids"]) for b in bb),
                           "torch_seconds": round(torch_s, 5), "onnx_seconds": round(onnx_s, 5),
                           "onnx_vs_torch": round(torch_s / onnx_s, 3),
                           "speedup_vs_dense": {"torch": round(dense[bs][0] / torch_s, 3),
                                                "onnx": round(dense[bs][1] / onnx_s, 3)},
                           "export_checks": info["checks"],
                           "padding": "dynamic", "threads": 1}
                    print(row)
                    append(args.out, row)


if __name__ == "__main__":
    main()
