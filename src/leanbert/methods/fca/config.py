"""FCA's config: fine tokens kept, the rest merged into `coarse` tokens per layer."""
from __future__ import annotations

from dataclasses import dataclass

from ...engine.config import ReductionConfig, check_field as _check


@dataclass(frozen=True)
class FCAConfig(ReductionConfig):
    """FCA: fine tokens plus `coarse` merged tokens per layer (coarse=0 is PoWER-BERT).

    merge: "mean" or "weighted" (softmax of the scores within each chunk, a convex combination);
    divide_by_count: also divide by the chunk size, as the reference code does (off by default).
    """

    method: str = "fca"
    coarse: int = 1
    merge: str = "weighted"
    divide_by_count: bool = False

    def validate(self) -> None:
        super().validate()
        _check(isinstance(self.coarse, int) and 0 <= self.coarse <= 64, "coarse", "must be an integer in [0, 64]")
        _check(self.merge in ("mean", "weighted"), "merge", f"unknown merge {self.merge!r}, use 'mean' or 'weighted'")
