"""Sparse attention (Breaking BERT, reconstructed): chosen layers attend along a pattern mask.

Neighbour (+ global [CLS]) patterns run on the banded kernel (banded.py), which skips the masked work,
when it computes at most AUTO_MAX_FRACTION of the dense score matrix; every other pattern runs dense
SDPA/eager with the pattern as a mask, which changes what the model computes but saves no time
(DESIGN 1.4: masks alone save nothing).
"""
import functools

import torch

from ...core import banded, patterns
from ...engine.method import ReductionMethod

AUTO_MAX_FRACTION = 0.5  # banded wins over masked SDPA below about this share (benchmarks/sparse_speed.py)


class SparseMethod(ReductionMethod):
    reduces_tokens = False

    def uses_banded_kernel(self, index: int, n: int) -> bool:
        c = self.config
        if index not in c.layers or not c.is_banded or c.kernel == "masked":
            return False
        return c.kernel == "banded" or bool(c.head_widths) or banded.window_fraction(n, c.layer_width(index)) <= AUTO_MAX_FRACTION

    def patterned(self, index: int) -> bool:
        return index in self.config.layers

    def head_widths(self, index: int) -> torch.Tensor | None:
        c = self.config
        return torch.tensor(c.head_widths[c.layers.index(index)]) if c.head_widths and index in c.layers else None

    def band(self, index: int, n: int) -> banded.Band | None:
        """The band layer `index` runs at length n, or None when it does not run banded."""
        if not self.uses_banded_kernel(index, n):
            return None
        return banded.Band(self.config.layer_width(index), self.config.global_cls, self.head_widths(index))

    def attention_kernel(self, index: int, n: int):
        band = self.band(index, n)
        return None if band is None else functools.partial(banded.banded_attention, width=band.width,
                                                           global_first=band.global_first, head_widths=band.head_widths)

    def attention_pairs(self, index: int, n: int) -> int:
        """Pairs the kernel scores: with per-head widths, every head scores the widest head's window."""
        band = self.band(index, n)
        return n * n if band is None else banded.computed_pairs(n, band.width, band.global_first)

    def allowed_pairs(self, index: int, key_mask: torch.Tensor, hidden: torch.Tensor, syntax_hops=None):
        """(B, N, N) bool for a patterned layer, None for a layer that keeps full attention.
        `syntax_hops`: the batch's (B, N, N) dependency distances (syntax.collate_distances), needed when the
        pattern has syntax links."""
        c = self.config
        if index not in c.layers:
            return None
        n = key_mask.shape[1]
        widths = self.head_widths(index)
        if widths is not None:  # (B, H, N, N): each head its own band (for measuring; the kernel never builds it)
            glob = patterns.global_tokens(n, [0] if c.global_cls else [], key_mask.device)
            return torch.stack([patterns.finalize(patterns.neighbour(n, int(w), key_mask.device) | glob, key_mask)
                                for w in widths], dim=1)
        m = torch.zeros(1, n, n, dtype=torch.bool, device=key_mask.device)
        if c.width > 0:
            m = m | patterns.neighbour(n, c.width, key_mask.device)
        if c.global_cls:
            m = m | patterns.global_tokens(n, [0], key_mask.device)
        if c.n_random > 0:
            m = m | patterns.random_keys(key_mask, c.n_random, c.seed + index)
        if c.lexical_top > 0:
            m = m | patterns.lexical(hidden, key_mask, c.lexical_top)
        if c.syntax_hops > 0:
            m = m | patterns.syntax(syntax_hops, c.syntax_hops, n)
        return patterns.finalize(m, key_mask)
