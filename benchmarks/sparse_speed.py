"""Banded sparse attention vs dense SDPA at 512 tokens on BBC News: attention-layer time and whole-model latency.

    taskset -c 1 python -m benchmarks.sparse_speed --checkpoint runs/bbc/dense/best --widths 48,24 \
        --data-dir ../shared/data/glue --out results/speed/sparse_512.jsonl   # the plan's step speed/sparse_512

One thread. For each neighbour width (plus global [CLS], all layers), the same BBC test documents (only those
that fill all 512 positions after truncation) are timed: layer 0's attention core (softmax(QK^T)V, the
part a pattern can skip), its whole attention sub-layer (with the Q/K/V/output projections, which no pattern
touches), and the whole model, for dense SDPA (no pattern), the pattern as a mask on dense SDPA (`kernel=masked`) and the
banded kernel (`kernel=banded`); the row records the logits' max difference between the two sparse
executions, the measured sparsity over real tokens and the analytic FLOPs ratio. Then ACC profiles alone and
composed with the first width's pattern (masked and banded), whole-model latency against the same dense run.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from leanbert.core import banded, patterns
from leanbert.engine import attention, masks
from leanbert.engine.api import applied
from leanbert.data.batching import EncodedDataset
from leanbert.measure.bench import make_batches, sample_dataset, time_batches
from leanbert.methods.acc.config import ACCConfig
from leanbert.methods.sparse.config import SparseConfig
from leanbert.measure.flops import encoder_flops
from leanbert.engine.registry import build_method
from leanbert.report.results import append
from leanbert.measure.runner import load_split
from leanbert.core.schedule import solve_fractions


def seconds(fn, min_run_time: float) -> float:
    fn()
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=1).blocked_autorange(min_run_time=min_run_time).median


def attention_times(model, batch: dict, config: SparseConfig, min_run_time: float) -> dict:
    """Layer 0's attention sub-layer: dense SDPA, the pattern as an SDPA mask, the banded kernel."""
    layer = model.bert.encoder.layer[0]
    with torch.inference_mode():
        hidden = model.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
        key_mask = batch["attention_mask"].bool()
        dense_mask = masks.hf_mask(model.config, hidden, key_mask)
        allowed = build_method(config).allowed_pairs(0, key_mask, hidden)
        sparse_mask = masks.pair_mask(model.config, allowed, hidden.dtype)
        kernel = build_method(replace(config, kernel="banded")).attention_kernel(0, hidden.shape[1])
        out = {"dense": seconds(lambda: layer.attention(hidden, dense_mask), min_run_time),
               "masked": seconds(lambda: layer.attention(hidden, sparse_mask), min_run_time),
               "banded": seconds(lambda: attention.attention_with_kernel(layer, hidden, key_mask, kernel), min_run_time)}
        q, k, v = attention.project_heads(layer, hidden)  # the core alone: softmax(QK^T)V, where the pattern acts
        pads = key_mask[:, None, None, :]
        out.update(core_dense=seconds(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=pads), min_run_time),
                   core_masked=seconds(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None]), min_run_time),
                   core_banded=seconds(lambda: kernel(q, k, v, key_mask), min_run_time))
        out["sparsity"] = patterns.sparsity(allowed, key_mask).mean().item()
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", default="runs/bbc/dense/best")
    ap.add_argument("--widths", default="48,24")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--examples", default="4,16", help="documents timed per batch size")
    ap.add_argument("--acc-speedups", default="2,3", help="ACC targets timed alone and composed with the first width")
    ap.add_argument("--min-run-time", type=float, default=2.0)
    ap.add_argument("--data-dir", default=None, help="glue_data directory (or LEANBERT_GLUE_DIR)")
    ap.add_argument("--out", type=Path, default=Path("results/speed/sparse_512.jsonl"))
    return ap


def main() -> None:
    args = build_parser().parse_args()
    torch.set_num_threads(1)
    tokenizer, model, _, spec, ds, n0 = load_split(args.checkpoint, "bbc", "test", args.data_dir, 512)
    full = [i for i, n in enumerate(ds.lengths()) if n == n0]  # documents that fill all 512 positions
    ds = EncodedDataset([ds.features[i] for i in full], [ds.labels[i] for i in full])
    c = model.config
    for bs, n_docs in zip([int(x) for x in args.batch_sizes.split(",")], [int(x) for x in args.examples.split(",")]):
        batches = make_batches(sample_dataset(ds, n_docs), tokenizer, bs, None)
        dense_s = time_batches(model, batches, None, args.min_run_time)
        for width in [int(x) for x in args.widths.split(",")]:
            masked_cfg = SparseConfig.for_layers(c.num_hidden_layers, width=width, kernel="masked")
            banded_cfg = SparseConfig.for_layers(c.num_hidden_layers, width=width, kernel="banded")
            masked_s = time_batches(model, batches, masked_cfg, args.min_run_time)
            banded_s = time_batches(model, batches, banded_cfg, args.min_run_time)
            with torch.inference_mode():
                with applied(model, masked_cfg):
                    masked_logits = torch.cat([model(**b).logits for b in batches])
                with applied(model, banded_cfg):
                    banded_logits = torch.cat([model(**b).logits for b in batches])
            layer = attention_times(model, batches[0], masked_cfg, args.min_run_time)
            n = batches[0]["input_ids"].shape[1]
            flops = {k: encoder_flops(n, c.hidden_size, c.intermediate_size, c.num_hidden_layers,
                                      build_method(cfg) if cfg else None, c.num_attention_heads)
                     for k, cfg in (("dense", None), ("banded", banded_cfg))}
            row = {"task": spec.name, "checkpoint": args.checkpoint, "batch_size": bs, "documents": n_docs,
                   "length": n, "width": width, "layers": "all", "sparsity": round(layer["sparsity"], 4),
                   "window_fraction": round(banded.window_fraction(n, width), 4),
                   "attention_core_seconds": {k: round(layer[f"core_{k}"], 5) for k in ("dense", "masked", "banded")},
                   "attention_core_speedup_vs_dense": round(layer["core_dense"] / layer["core_banded"], 3),
                   "attention_layer_seconds": {k: round(layer[k], 5) for k in ("dense", "masked", "banded")},
                   "attention_speedup_vs_dense": round(layer["dense"] / layer["banded"], 3),
                   "attention_speedup_vs_masked": round(layer["masked"] / layer["banded"], 3),
                   "model_seconds": {"dense": round(dense_s, 4), "masked": round(masked_s, 4), "banded": round(banded_s, 4)},
                   "model_speedup_vs_dense": round(dense_s / banded_s, 3),
                   "model_speedup_vs_masked": round(masked_s / banded_s, 3),
                   "flops_ratio": round(flops["dense"] / flops["banded"], 3),
                   "max_abs_logit_diff_banded_vs_masked": float((banded_logits - masked_logits).abs().max()),
                   "threads": 1}
            print(row, flush=True)
            append(args.out, row)
        for target in [float(x) for x in args.acc_speedups.split(",") if x]:  # composed with ACC token reduction
            acc = ACCConfig(keep_fractions=solve_fractions(target, c.num_hidden_layers, n0, c.hidden_size, c.intermediate_size))
            width = int(args.widths.split(",")[0])
            composed = {kernel: acc.replace(pattern=SparseConfig.for_layers(c.num_hidden_layers, width=width, kernel=kernel))
                        for kernel in ("masked", "banded")}
            times = {"acc": time_batches(model, batches, acc, args.min_run_time),
                     **{f"acc+{k}": time_batches(model, batches, cfg, args.min_run_time) for k, cfg in composed.items()}}
            with torch.inference_mode():
                logits = {}
                for k, cfg in composed.items():
                    with applied(model, cfg):
                        logits[k] = torch.cat([model(**b).logits for b in batches])
            row = {"task": spec.name, "checkpoint": args.checkpoint, "batch_size": bs, "documents": n_docs,
                   "composed_with": "acc", "target_speedup": target, "width": width, "layers": "all",
                   "model_seconds": {"dense": round(dense_s, 4), **{k: round(t, 4) for k, t in times.items()}},
                   "speedup_vs_dense": {k: round(dense_s / t, 3) for k, t in times.items()},
                   "max_abs_logit_diff_banded_vs_masked": float((logits["banded"] - logits["masked"]).abs().max()),
                   "threads": 1}
            print(row, flush=True)
            append(args.out, row)


if __name__ == "__main__":
    main()
