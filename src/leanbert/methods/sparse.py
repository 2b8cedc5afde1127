"""Sparse attention (Breaking BERT, reconstructed): chosen layers attend along a pattern mask.

Execution here is dense SDPA/eager with the pattern as mask: it changes what the model computes but
saves no time (DESIGN 1.4: masks alone save nothing); a kernel that skips masked blocks is future work.
"""
import torch

from .. import patterns
from ..config import SparseConfig
from .base import ReductionMethod


class SparseMethod(ReductionMethod):
    config_class = SparseConfig

    def allowed_pairs(self, index: int, key_mask: torch.Tensor, hidden: torch.Tensor):
        """(B, N, N) bool for a patterned layer, None for a layer that keeps full attention."""
        c = self.config
        if index not in c.layers:
            return None
        n = key_mask.shape[1]
        m = torch.zeros(1, n, n, dtype=torch.bool, device=key_mask.device)
        if c.width > 0:
            m = m | patterns.neighbour(n, c.width, key_mask.device)
        if c.global_cls:
            m = m | patterns.global_tokens(n, [0], key_mask.device)
        if c.n_random > 0:
            m = m | patterns.random_keys(key_mask, c.n_random, c.seed + index)
        if c.lexical_top > 0:
            m = m | patterns.lexical(hidden, key_mask, c.lexical_top)
        return patterns.finalize(m, key_mask)
