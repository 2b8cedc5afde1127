"""Measured speed of reduced sentence embeddings (issue 21): the shipped all-MiniLM-L6-v2 base encoder, dense
against the training-free configs `leanbert embed --speedup` builds (ToMe merging; PoWER-BERT-style dropping),
on STS-B dev sentences (each sentence alone, as `embed` encodes them), batch 1 and 32, against both dense
baselines (padded to the protocol length and dynamic padding) in the same process, alternating rounds
(measure.bench.SpeedBench). Configs are solved at the encoder's max length (256), as `embed --speedup` solves
them, so the rows time the configs the quality rows (results/embeddings/minilm.jsonl) scored. What is timed is
the encoder's forward; mean pooling (a weighted sum) is not in it. The FLOPs ratio beside each row is counted on
the STS-B sentences at their own lengths.

    python -m benchmarks.embeddings_speed --data-dir ../shared/data/glue --threads 1 \
        --out results/embeddings/minilm_speed.jsonl      # the plan's step embeddings/minilm_speed
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from leanbert.data.batching import EncodedDataset
from leanbert.data.datasets import load_task
from leanbert.embeddings import config_for, load_encoder
from leanbert.embeddings.encode import tokenize
from leanbert.engine.registry import build_method
from leanbert.measure.bench import SpeedBench
from leanbert.measure.flops import mean_gflops
from leanbert.report.results import append, stamp



def sentences_dataset(tokenizer, data_dir, max_length: int) -> EncodedDataset:
    """Every STS-B dev sentence (both sides of each pair) as its own input."""
    pairs = load_task("stsb", data_dir, splits=("dev",)).split("dev")
    texts = [t for e in pairs for t in (e.text_a, e.text_b)]
    ids = tokenize(tokenizer, texts, max_length)[0]
    features = [{"input_ids": x, "attention_mask": [1] * len(x)} for x in ids]
    return EncodedDataset(features, [0] * len(features))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a local base model (default: the shipped all-MiniLM-L6-v2)")
    ap.add_argument("--methods", default="tome,power")
    ap.add_argument("--speedups", default="1.5,2,3")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-run-time", type=float, default=1.0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=Path("results/embeddings/minilm_speed.jsonl"))
    return ap


def main() -> None:
    args = build_parser().parse_args()
    torch.set_num_threads(args.threads)
    # configs are solved at the encoder's max length, as `leanbert embed --speedup` solves them (256 for the shipped
    # model), and the padded baseline pads to it
    model, tokenizer, max_length = load_encoder(args.model)
    ds = sentences_dataset(tokenizer, args.data_dir, max_length)
    bench = SpeedBench(model, tokenizer, ds, max_length, (1, 32), {1: 32, 32: 128}, args.min_run_time, calibrate=False)
    for method in args.methods.split(","):
        for speedup in (float(s) for s in args.speedups.split(",")):
            config = config_for(model, method, speedup, n0=max_length)
            timing = bench.speedups(config)
            flops = mean_gflops(ds.lengths(), model.config) / mean_gflops(ds.lengths(), model.config, build_method(config))
            row = {"benchmark": "embeddings_speed", "task": "stsb", "split": "dev", "method": method,
                   "target_speedup": speedup, "config": config.to_dict(), "flops_ratio_dynamic": round(flops, 3),
                   "speedup_padded": timing["padded"], "speedup_dynamic": timing["dynamic"],
                   "spread": timing["spread"], "threads": args.threads, "max_length": max_length,
                   "command": "python -m benchmarks.embeddings_speed " + " ".join(sys.argv[1:])}
            stamp(row)
            append(args.out, row)
            print(json.dumps({k: row[k] for k in ("method", "target_speedup", "flops_ratio_dynamic", "speedup_dynamic")}),
                  flush=True)


if __name__ == "__main__":
    main()
