"""ACC word-vector elimination (Kachuee & Sharifkhani, 2022), reconstructed from the abstract.

Scores tokens by their Attention Context Contribution and eliminates the least important along a
per-layer profile; the profile for a target speedup comes from `schedule.solve_fractions`.
"""
from ...core import scoring
from ...engine.method import ReductionMethod


class ACCMethod(ReductionMethod):

    def score(self, stats, key_mask, values=None, out_weight=None):
        if self.config.score == "value_norm":
            return scoring.value_norm_score(stats, values, out_weight, key_mask)
        return scoring.acc_score(stats, key_mask)

    def overhead_flops(self, index, n_in, hidden, heads):
        value_norm = 2 * n_in * hidden * hidden if self.config.score == "value_norm" else 0  # v_j W_O per token
        return super().overhead_flops(index, n_in, hidden, heads) + value_norm
