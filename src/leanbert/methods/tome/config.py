"""ToMe's config: how many tokens remain per layer, and proportional attention."""
from __future__ import annotations

from dataclasses import dataclass

from ...engine.config import ReductionConfig


@dataclass(frozen=True)
class TomeConfig(ReductionConfig):
    """ToMe-style merging (a peer, no training): the profile says how many tokens remain per layer."""

    method: str = "tome"
    proportional_attention: bool = True
