"""LTP's config: one learned importance threshold per layer."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...engine.config import ReductionConfig, check_field as _check


@dataclass(frozen=True)
class LTPConfig(ReductionConfig):
    """Learned Token Pruning (Kim et al., KDD 2022), a peer: layer l drops the tokens whose importance is
    below a learned threshold. Importance is the head-averaged attention a token receives from real
    queries, times the number of real tokens (1.0 = an average token), so thresholds carry over between
    lengths. The number kept varies per example; a batch keeps its largest count and masks the rest
    (each row computes exactly what it would alone). `keep_fractions` stays all 1.0 (an upper bound);
    build with `LTPConfig.from_thresholds`. A threshold of 0 leaves that layer alone.
    """

    method: str = "ltp"
    thresholds: tuple[float, ...] = ()

    @classmethod
    def from_thresholds(cls, thresholds) -> "LTPConfig":
        thresholds = tuple(float(t) for t in thresholds)
        return cls(keep_fractions=(1.0,) * len(thresholds), thresholds=thresholds)

    def validate(self) -> None:
        super().validate()
        object.__setattr__(self, "thresholds", tuple(self.thresholds))
        _check(len(self.thresholds) == self.num_layers, "thresholds", f"need one per layer ({self.num_layers})")
        _check(all(isinstance(t, (int, float)) and math.isfinite(t) and t >= 0 for t in self.thresholds), "thresholds",
               "every threshold must be a finite number >= 0")
        _check(all(f == 1.0 for f in self.keep_fractions or ()) and self.keep_counts is None, "keep_fractions",
               "LTP's counts come from its thresholds: use LTPConfig.from_thresholds")
