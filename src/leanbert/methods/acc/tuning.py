"""ACC offline tuning: every training batch runs at a target speedup drawn log-uniformly from [lo, hi] (a quarter
of batches at `lo`), so one checkpoint serves every speedup (DESIGN 1.3)."""
from __future__ import annotations

import math
import random

from ...backbones import dims
from ...core.schedule import max_speedup, solve_fractions
from ...engine.api import apply
from ...errors import ConfigError
from ...training.hooks import TrainingStage
from .config import ACCConfig


class ACCSampler:
    """Profiles for target speedups drawn per batch; solutions cached on a 0.05 grid."""

    def __init__(self, lo, hi, hf_config, n0, score, seed):
        self.lo, self.hi, self.n0, self.score = lo, hi, n0, score
        hidden, ffn, layers, _ = dims(hf_config)
        self.dims = (layers, hidden, ffn)
        top = max_speedup(self.dims[0], n0, *self.dims[1:])
        if not 1 <= lo <= hi <= top:  # else it fails at the first batch drawn beyond the limit, hours in
            raise ConfigError(f"invalid config field 'speedup_range': {lo},{hi} must be lo,hi with 1 <= lo <= hi <= "
                              f"{top:.2f} (this model's maximum at length {n0})")
        self.rng = random.Random(seed)
        self.cache = {}

    def config_for(self, target: float) -> ACCConfig:
        target = min(max(round(target * 20) / 20, self.lo), self.hi)  # the grid never steps outside the range
        if target not in self.cache:
            layers, hidden, ffn = self.dims
            self.cache[target] = ACCConfig(keep_fractions=solve_fractions(target, layers, self.n0, hidden, ffn),
                                           score=self.score)
        return self.cache[target]

    def sample(self) -> ACCConfig:
        if self.rng.random() < 0.25:
            return self.config_for(self.lo)
        return self.config_for(math.exp(self.rng.uniform(math.log(self.lo), math.log(self.hi))))


class OfflineTuning(TrainingStage):
    def __init__(self, sampler: ACCSampler):
        self.sampler = sampler

    def batch_kwargs(self) -> dict:
        return {"leanbert_config": self.sampler.sample()}


def offline_tuning(args, model, context: dict) -> TrainingStage | None:
    """With `acc_speedups=(lo, hi)`: the model saved with the profile at `lo` (it marks the checkpoint ACC-tuned)."""
    if not args.acc_speedups:
        return None
    sampler = ACCSampler(*args.acc_speedups, model.config, context["max_length"], args.acc_score, args.seed)
    apply(model, sampler.config_for(args.acc_speedups[0]))
    return OfflineTuning(sampler)
