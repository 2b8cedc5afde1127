"""The small interface every token-reduction method implements.

The encoder loop (patch.py) asks a method three things per layer: how many tokens to keep (`plan`),
how important each token is (`score`), and how to shrink the sequence (`reduce`). Methods hold only
their frozen config and derived constants: no state that changes between calls.
"""
from __future__ import annotations

import torch

from ..core import schedule, scoring
from .config import ReductionConfig


class ReductionMethod:
    scores_from_attention = True  # reducing layers need attention statistics (else they keep SDPA)
    reduces_tokens = True  # may end with fewer tokens than it began with (per-token heads refuse it)

    def __init__(self, config: ReductionConfig):
        self.config = config
        self.pattern = None  # the method of a sparse pattern composed with this reduction, if any
        if config.pattern is not None:
            from .registry import build_method  # late import: the registry's methods build on this module

            self.pattern = build_method(config.pattern)
        fractions = config.keep_fractions
        self.rationals = None if fractions is None else schedule.monotone_rationals(tuple(fractions))

    def plan(self, n0: int) -> list[int]:
        """Tokens kept after each layer for a batch of padded length n0 (Python ints, integer arithmetic)."""
        c = self.config
        return schedule.keep_counts(n0, c.keep_counts, min_tokens=c.min_tokens, rationals=self.rationals)

    def scores_layer(self, index: int, n_in, n_keep) -> bool:
        """Whether layer `index` scores its tokens (and so runs its attention eagerly).

        With concrete lengths: only where it removes something. With symbolic lengths (torch.export /
        ONNX export) the answer must not depend on the length, so it comes from the config alone: every
        layer whose profile drops below the previous layer's. Where such a layer keeps every token at run
        time, the selection is the identity, so both answers compute the same model.
        """
        if isinstance(n_in, torch.SymInt) or isinstance(n_keep, torch.SymInt):
            return self.profile_steps_down[index]
        return self.removes_tokens(n_in, n_keep)

    def removes_tokens(self, n_in: int, n_keep: int) -> bool:
        return n_keep < n_in

    @property
    def profile_steps_down(self) -> tuple[bool, ...]:
        c = self.config
        steps = schedule.running_min(c.keep_counts) if c.keep_counts is not None else self.rationals
        first = float("inf") if c.keep_counts is not None else (1, 1)
        before = [first, *steps[:-1]]
        if c.keep_counts is not None:
            return tuple(s < p for s, p in zip(steps, before))
        return tuple(s[0] * p[1] < p[0] * s[1] for s, p in zip(steps, before))  # num/den < previous num/den

    def tokens_after(self, n_in: int, n_keep: int) -> int:
        """Sequence length after a reducing layer."""
        return n_keep

    def overhead_flops(self, index: int, n_in: int, hidden: int, heads: int) -> int:
        """Matmul FLOPs a reducing layer adds beyond the dense layer's (per example): by default the
        per-head sum of the attention each key receives, a (1 x N) @ (N x N) product per head (over the
        pairs actually scored, when a banded pattern limits them)."""
        return 2 * heads * self.attention_pairs(index, n_in) if self.scores_from_attention else 0

    # A composed sparse pattern answers the three questions below; the pattern applies to the current
    # (possibly reduced) sequence, so "neighbour" means neighbour among the tokens still present.

    def attention_kernel(self, index: int, n: int):
        """A replacement for the attention core of non-reducing layer `index` at length n, or None for the
        model's own. Called as kernel(q, k, v, key_mask, scale=...) on (B, H, N, Dh) tensors."""
        return self.pattern.attention_kernel(index, n) if self.pattern else None

    def patterned(self, index: int) -> bool:
        """Whether layer `index` attends along a sparse pattern."""
        return self.pattern is not None and self.pattern.patterned(index)

    def band(self, index: int, n: int):
        """(width, global_first) when layer `index` at length n attends along a band only, else None."""
        return self.pattern.band(index, n) if self.pattern else None

    def attention_pairs(self, index: int, n: int) -> int:
        """Query-key pairs layer `index` scores on n tokens (n^2 unless a banded pattern skips some)."""
        return self.pattern.attention_pairs(index, n) if self.pattern else n * n

    def attention_flops(self, index: int, n: int, hidden: int) -> int:
        """FLOPs of the score and context matmuls (QK^T and PV) of layer `index` on n tokens."""
        return 4 * hidden * self.attention_pairs(index, n)

    def allowed_pairs(self, index: int, key_mask: torch.Tensor, hidden: torch.Tensor, syntax_hops=None):
        """(B, N, N) bool attention pattern for layer `index`, or None for the model's own mask."""
        return self.pattern.allowed_pairs(index, key_mask, hidden) if self.pattern else None

    def attention_bias(self, index: int, key_mask: torch.Tensor, dtype):
        """An additive (B, H, N, N) float mask replacing the padding mask of layer `index` (soft patterns being
        learned), or None."""
        return None

    def score(self, stats: scoring.AttentionStats, key_mask: torch.Tensor, values=None, out_weight=None) -> torch.Tensor:
        return scoring.attention_received(stats, key_mask)  # (B, N)

    def reduce(self, hidden: torch.Tensor, key_mask: torch.Tensor, scores: torch.Tensor, n_keep: int, index: int = 0,
               sizes=None):
        """Physically drop all but the kept tokens: (B, N, D) -> (B, n_keep, D), mask likewise.
        Returns (hidden, mask, sizes); sizes (tokens merged into each, for proportional attention) stay None
        unless a merging method starts them."""
        idx = scoring.select_keep_indices(scores, n_keep, key_mask=key_mask)  # (B, n_keep)
        return scoring.gather_tokens(hidden, idx), scoring.gather_tokens(key_mask, idx), None

    def carry_positions(self, positions: torch.Tensor, hidden: torch.Tensor, key_mask: torch.Tensor,
                        scores: torch.Tensor, n_keep: int, index: int = 0, sizes=None) -> torch.Tensor:
        """(B, N) original positions -> (B, N') those of the tokens `reduce` leaves: a kept token keeps its own,
        a merged token takes the mean of its members' weighted as its hidden state is. Only families whose
        attention reads positions call it (MPNet's relative position bias, backbones/mpnet.py)."""
        return self.reduce(positions[..., None], key_mask, scores, n_keep, index, sizes)[0][..., 0]

    def reduce_carrying(self, hidden, positions, key_mask, scores, n_keep: int, index: int = 0, sizes=None):
        """`reduce` that also carries the tokens' original positions: (hidden, mask, sizes, positions)."""
        positions = self.carry_positions(positions, hidden, key_mask, scores, n_keep, index, sizes)
        return (*self.reduce(hidden, key_mask, scores, n_keep, index, sizes), positions)

    def finish_layer(self, hidden: torch.Tensor, sizes) -> torch.Tensor:
        """Applied to a reducing layer's output after its feed-forward block (identity except LTP's soft stage)."""
        return hidden

    def uses_sizes(self) -> bool:
        """Whether later layers should add log(size) to the attention logits (proportional attention)."""
        return False
