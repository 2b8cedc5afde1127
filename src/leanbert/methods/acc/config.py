"""ACC's config: the shared fields and the token score."""
from __future__ import annotations

from dataclasses import dataclass

from ...engine.config import ReductionConfig, check_field as _check


@dataclass(frozen=True)
class ACCConfig(ReductionConfig):
    """ACC word-vector elimination (reconstructed from the abstract, see docs/methods.md).

    score: "acc" (head-averaged attention received, normalised by real queries) or "value_norm"
    (attention weighted by the norm of the transformed value vector, ||a_ij v_j W_O||).
    """

    method: str = "acc"
    score: str = "acc"

    def validate(self) -> None:
        super().validate()
        _check(self.score in ("acc", "value_norm"), "score", f"unknown score '{self.score}', use 'acc' or 'value_norm'")
