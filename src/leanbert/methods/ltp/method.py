"""Learned Token Pruning (Kim et al., KDD 2022), a peer, on the same engine.

Inference (hard pruning): at every layer with a threshold, a real token survives when its normalised
importance (scoring.normalised_importance) reaches the layer's threshold; [CLS] always survives. The
number of survivors differs per example, and a batch needs one length: the batch keeps its largest
count, and in rows with fewer survivors the extra slots are masked out (they become padding), so every
row computes what it would compute alone. The count needs one host sync per layer (`.item()`), so this
method does not trace into one graph (torch.compile / ONNX): documented in docs/methods.md.
The soft stage (learning the thresholds) is in training.py beside it.
"""
import torch

from ...core import scoring
from ...engine.method import ReductionMethod


class LTPMethod(ReductionMethod):

    def scores_layer(self, index, n_in, n_keep) -> bool:
        return self.config.thresholds[index] > 0

    def score(self, stats, key_mask, values=None, out_weight=None):
        return scoring.normalised_importance(stats, key_mask)

    def reduce(self, hidden, key_mask, scores, n_keep, index=0, sizes=None):
        survive = survivors(scores, key_mask, self.config.thresholds[index])  # (B, N)
        k = int(survive.sum(dim=1).max())  # the batch's largest count: one host sync
        idx = scoring.select_keep_indices(scores.masked_fill(~survive, float("-inf")), k, key_mask=survive)  # (B, k)
        return scoring.gather_tokens(hidden, idx), scoring.gather_tokens(survive, idx), None


def survivors(scores: torch.Tensor, key_mask: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, N) bool: real tokens at or above the threshold, and [CLS]."""
    keep = (scores >= threshold) & key_mask
    keep[:, 0] = key_mask[:, 0]
    return keep
