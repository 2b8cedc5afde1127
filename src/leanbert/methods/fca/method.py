"""FCA (Zhao et al., ACL 2022): fine tokens as PoWER-BERT keeps them, the rest merged into k coarse
tokens appended after them, which take part in every later layer like any other token."""
import torch

from ...core import merging, scoring
from ...engine.method import ReductionMethod


class FCAMethod(ReductionMethod):

    def removes_tokens(self, n_in, n_keep) -> bool:
        return n_keep + self.config.coarse < n_in  # otherwise there is nothing left to merge

    def tokens_after(self, n_in, n_keep):
        return n_keep + self.config.coarse

    def overhead_flops(self, index, n_in, hidden, heads):
        merge = 2 * self.config.coarse * n_in * hidden  # (k, N) x (N, D)
        return super().overhead_flops(index, n_in, hidden, heads) + merge

    def reduce(self, hidden, key_mask, scores, n_keep, index=0, sizes=None):
        idx = scoring.select_keep_indices(scores, n_keep, key_mask=key_mask)  # (B, n_keep)
        fine, fine_mask = scoring.gather_tokens(hidden, idx), scoring.gather_tokens(key_mask, idx)
        if self.config.coarse == 0:
            return fine, fine_mask, None
        coarse, coarse_mask = merging.merge_coarse(hidden, key_mask, idx, scores, self.config.coarse,
                                                   self.config.merge, self.config.divide_by_count)
        return torch.cat([fine, coarse], dim=1), torch.cat([fine_mask, coarse_mask], dim=1), None  # (B, n_keep + k, ...)

    def carry_positions(self, positions, hidden, key_mask, scores, n_keep, index=0, sizes=None):
        """Fine tokens keep their positions; a coarse token sits at its chunk's mean position under the merge
        weights (normalised to 1 even where divide_by_count scales the hidden state)."""
        idx = scoring.select_keep_indices(scores, n_keep, key_mask=key_mask)  # (B, n_keep)
        fine = scoring.gather_tokens(positions, idx)
        if self.config.coarse == 0:
            return fine
        coarse = merging.coarse_positions(positions, key_mask, idx, scores, self.config.coarse, self.config.merge)
        return torch.cat([fine, coarse], dim=1)
