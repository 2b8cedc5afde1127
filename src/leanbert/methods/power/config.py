"""PoWER-BERT's config: the shared fields, nothing more."""
from __future__ import annotations

from dataclasses import dataclass

from ...engine.config import ReductionConfig


@dataclass(frozen=True)
class PowerConfig(ReductionConfig):
    """PoWER-BERT: drop the least-attended tokens, no coarse tokens."""

    method: str = "power"
