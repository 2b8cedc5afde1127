"""Latency measurement: one method config against both dense baselines of DESIGN 4, in one run.

(a) padded: every batch padded to the task's max length (the papers' protocol), for dense and method;
(b) dynamic: length-sorted buckets, each padded only to its longest row (what users run), dense SDPA.
Timing uses torch.utils.benchmark on a fixed, seeded sample of real examples; threads are recorded.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

import torch
from torch.utils import benchmark

from . import allocator
from ..engine.api import applied
from ..data.batching import EncodedDataset, make_collate, sorted_batches
from ..errors import ConfigError
from .latency import LatencyModel
from ..engine.registry import build_method, spec_of


def sample_dataset(ds: EncodedDataset, n: int, seed: int = 0) -> EncodedDataset:
    idx = sorted(random.Random(seed).sample(range(len(ds)), min(n, len(ds))))
    return EncodedDataset([ds.features[i] for i in idx], [ds.labels[i] for i in idx])


def make_batches(ds: EncodedDataset, tokenizer, batch_size: int, pad_to: int | None) -> list[dict]:
    collate = make_collate(tokenizer, regression=False, pad_to=pad_to)
    batches = [collate([(ds.features[i], None) for i in b]) for b in sorted_batches(ds, batch_size)]
    return [{k: v for k, v in b.items() if k != "labels"} for b in batches]


def time_batches(model, batches: list[dict], leanbert_config=None, min_run_time: float = 1.0) -> float:
    """Median seconds to run all `batches` once (after a warm-up pass), with `leanbert_config` applied
    (None: the unpatched Hugging Face model, i.e. the dense baseline)."""

    @torch.inference_mode()
    def run():
        for b in batches:
            model(**b)

    with applied(model, leanbert_config):
        run()  # warm-up
        timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=torch.get_num_threads())
        return timer.blocked_autorange(min_run_time=min_run_time).median


INTERLEAVE_ROUNDS = 3


@dataclass(frozen=True)
class Timing:
    """How a SpeedBench measures: examples timed per batch size, seconds of timing per ratio, alternating
    dense/method rounds, and whether the heap is kept warm (allocator.py)."""
    examples_per_batch_size: dict = field(default_factory=lambda: {1: 32, 32: 128})
    min_run_time: float = 1.0
    rounds: int | dict = INTERLEAVE_ROUNDS  # one count for every batch size, or {batch size: count}
    warm_allocator: bool = True


class SpeedBench:
    """Times a model on fixed batches against both dense baselines.

    Each config's ratio comes from `rounds` alternating measurements (dense, method, dense, method, ...), each
    of min_run_time / rounds seconds (at least one pass over the batches); `rounds` may differ per batch size
    ({1: 25, 32: 7}): a batch-1 pass is short and its round ratios scatter most, so it needs more pairs for the
    same certainty, and they are cheap. The speedup is the median of the
    per-round ratios dense_r / method_r: the two halves of a round are seconds apart, so slow drift of the
    machine (the other core's load, a noisy neighbour, frequency) cancels inside each ratio instead of entering
    it, and one disturbed round moves the median little. The spread (lowest and highest round ratio) is
    reported beside it. rounds=1 is a single dense/method pair. warm_allocator switches the process's heap to
    keep freed memory (allocator.py), so page faults stop adding process-to-process noise; rows record it."""

    def __init__(self, model, tokenizer, ds: EncodedDataset, max_length: int, batch_sizes=(1, 32),
                 examples_per_batch_size=None, min_run_time: float = 1.0, seed: int = 0, calibrate: bool = True,
                 rounds: int | dict = INTERLEAVE_ROUNDS, warm_allocator: bool = True):
        self.rounds = dict(rounds) if isinstance(rounds, dict) else {bs: rounds for bs in batch_sizes}
        if set(self.rounds) != set(batch_sizes) or min(self.rounds.values()) < 1:
            raise ConfigError(f"invalid config field 'rounds': {rounds}, need >= 1 for each of batch sizes {list(batch_sizes)}")
        if warm_allocator:
            allocator.keep_freed_memory()
        self.model, self.min_run_time, self.max_length = model, min_run_time, max_length
        self.num_layers = model.config.num_hidden_layers
        examples_per_batch_size = examples_per_batch_size or {1: 32, 32: 128}
        self.batches = {}
        for bs in batch_sizes:
            sample = sample_dataset(ds, examples_per_batch_size.get(bs, 4 * bs), seed)
            self.batches[bs] = {"padded": make_batches(sample, tokenizer, bs, max_length),
                                "dynamic": make_batches(sample, tokenizer, bs, None)}
        lengths = sorted({max(2, max_length * eighths // 8) for eighths in (1, 2, 4, 6, 8)})  # fit points
        self.latency = {bs: LatencyModel.fit(model, bs, lengths) for bs in batch_sizes} if calibrate else {}

    def _rounds(self, batches, config, rounds: int) -> tuple[list[float], list[float]]:
        """(dense seconds, method seconds) of each of `rounds` alternating measurements."""
        dense, method = [], []
        for _ in range(rounds):
            dense.append(time_batches(self.model, batches, None, self.min_run_time / rounds))
            method.append(time_batches(self.model, batches, config, self.min_run_time / rounds))
        return dense, method

    def speedups(self, config) -> dict:
        """{'padded': {bs: ratio}, 'dynamic': {bs: ratio}, 'seconds': {...}} against both dense baselines."""
        out = {"padded": {}, "dynamic": {}, "seconds": {}, "rounds": {str(bs): n for bs, n in self.rounds.items()},
               "estimator": "median of round ratios", "allocator": allocator.current()}
        for bs, protocols in self.batches.items():
            for protocol, batches in protocols.items():
                dense, method = self._rounds(batches, config, self.rounds[bs])
                ratios = [d / m for d, m in zip(dense, method)]
                out[protocol][str(bs)] = round(statistics.median(ratios), 3)
                out.setdefault("spread", {}).setdefault(protocol, {})[str(bs)] = [round(min(ratios), 3), round(max(ratios), 3)]
                out["seconds"][f"{protocol}_bs{bs}"] = {"method": round(statistics.median(method), 5),
                                                        "dense": round(statistics.median(dense), 5)}
                if bs in self.latency and config is not None and not spec_of(config).data_dependent:  # no static plan
                    lengths = [b["input_ids"].shape[1] for b in batches]
                    pred = self.latency[bs].predicted_speedup(lengths, build_method(config), self.num_layers)
                    out.setdefault("calibrated", {}).setdefault(protocol, {})[str(bs)] = round(pred, 3)
        return out
