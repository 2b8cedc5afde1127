"""Timing a runner against the baseline every runtime table compares to: the dense fp32 PyTorch model with
dynamic padding (length-sorted batches, each padded to its longest row), on the same real batches, one run.

Rounds alternate baseline and runner (as bench.SpeedBench does), the ratio is the median of per-round ratios,
so slow drift of the machine cancels inside each ratio. The ONNX session gets as many threads as torch has.
"""
from __future__ import annotations

import statistics

import torch
from torch.utils import benchmark

from ...measure.bench import make_batches, sample_dataset, time_batches


def time_runner(runner, batches: list[dict], min_run_time: float) -> float:
    """Median seconds for `runner` to predict all `batches` once, after a warm-up pass."""
    def run():
        for b in batches:
            runner.predict(b)

    run()
    timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


class RuntimeBench:
    """Fixed dynamically padded batches of real text per batch size; `speedups(runner)` against dense fp32 PyTorch."""

    def __init__(self, model, tokenizer, ds, timing, max_length: int):
        self.model, self.timing, self.max_length = model, timing, max_length
        sizes = timing.examples_per_batch_size
        self.rounds = timing.rounds if isinstance(timing.rounds, dict) else {bs: timing.rounds for bs in sizes}
        self.batches = {bs: make_batches(sample_dataset(ds, n), tokenizer, bs, None) for bs, n in sizes.items()}

    def speedups(self, runner) -> dict:
        """{'dynamic': {bs: ratio}, 'spread': ..., 'seconds': ...}: the baseline's time over the runner's."""
        out = {"dynamic": {}, "spread": {"dynamic": {}}, "seconds": {}, "baseline": "dense fp32 torch, dynamic padding",
               "rounds": {str(bs): n for bs, n in self.rounds.items()}, "estimator": "median of round ratios"}
        for bs, batches in self.batches.items():
            per_round = self.timing.min_run_time / self.rounds[bs]
            dense, method = [], []
            for _ in range(self.rounds[bs]):
                dense.append(time_batches(self.model, batches, None, per_round))
                method.append(time_runner(runner, batches, per_round))
            ratios = [d / m for d, m in zip(dense, method)]
            out["dynamic"][str(bs)] = round(statistics.median(ratios), 3)
            out["spread"]["dynamic"][str(bs)] = [round(min(ratios), 3), round(max(ratios), 3)]
            out["seconds"][f"dynamic_bs{bs}"] = {"method": round(statistics.median(method), 5),
                                                 "dense": round(statistics.median(dense), 5)}
        return out


def runtime_bench(checkpoint, task, split, data_dir, max_length, timing, user=None) -> RuntimeBench:
    """A RuntimeBench on the split's real text (the model loaded without its saved config: the dense baseline)."""
    from ...measure.runner import load_split

    tokenizer, model, _, _, ds, n0 = load_split(checkpoint, task, split, data_dir, max_length, user)
    return RuntimeBench(model, tokenizer, ds, timing, n0)
