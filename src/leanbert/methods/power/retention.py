"""PoWER-BERT's retention-configuration search by soft extraction (Goyal et al., 2020).

Every layer scores its tokens; the token of significance rank r is multiplied by a learnable retention
weight W_l[r] (initialised to 1, clipped to [0, 1] after each step). The loss adds
lambda * sum_l (l + 1) * sum_r W_l[r], so later layers pay more for the tokens they keep. After the
search, layer l keeps r_l = int(sum_r W_l[r]) tokens, made non-increasing over layers; the model is
then re-trained with hard extraction at those counts.
"""
from __future__ import annotations

import torch
from torch import nn

from ...core import scoring
from .config import PowerConfig
from ...engine.method import ReductionMethod
from ...training.hooks import SoftStage

ATTR = "leanbert_retention"


class RetentionWeights(nn.Module):
    def __init__(self, num_layers: int, max_length: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_layers, max_length))  # (L, N_max)

    @torch.no_grad()
    def clip_(self) -> None:
        self.weight.clamp_(0.0, 1.0)

    def penalty(self) -> torch.Tensor:
        layer_cost = torch.arange(1, self.weight.shape[0] + 1, dtype=self.weight.dtype)  # (L,)
        return (layer_cost * self.weight.sum(dim=1)).sum()

    def keep_counts(self, min_tokens: int = 1) -> tuple[int, ...]:
        counts, prev = [], self.weight.shape[1]
        for total in self.weight.detach().sum(dim=1).tolist():
            prev = min(prev, max(min_tokens, int(total)))
            counts.append(prev)
        return tuple(counts)


class SoftExtractionMethod(ReductionMethod):
    """Scales tokens by their rank's retention weight instead of removing them (search stage only)."""

    def __init__(self, weights: RetentionWeights):
        super().__init__(PowerConfig(keep_fractions=(1.0,) * weights.weight.shape[0]))
        self.weights = weights

    def scores_layer(self, index, n_in, n_keep) -> bool:
        return True

    def reduce(self, hidden, key_mask, scores, n_keep, index=0, sizes=None):
        ranked = scores.clone()
        ranked[:, 0] = float("inf")  # [CLS] takes rank 0
        rank = scoring.rank_positions(ranked).clamp(max=self.weights.weight.shape[1] - 1)  # (B, N)
        scale = self.weights.weight[index][rank]  # (B, N)
        return hidden * scale[..., None], key_mask, None


def attach_search(model, max_length: int) -> RetentionWeights:
    """Install soft extraction on `model`; the weights become a submodule so optimizers see them."""
    from ...engine import patch

    encoder = patch.find_encoder(model)
    weights = RetentionWeights(len(patch.layers_of(encoder)), max_length)
    setattr(model, ATTR, weights)
    patch.install(encoder, SoftExtractionMethod(weights))
    return weights


def detach_search(model) -> tuple[int, ...]:
    """Remove soft extraction; returns the keep counts the search found."""
    from ...engine import patch

    weights = getattr(model, ATTR)
    counts = weights.keep_counts()
    delattr(model, ATTR)
    patch.uninstall(patch.find_encoder(model))
    return counts


class RetentionSearch(SoftStage):
    def log_epoch(self, model, log: dict, entry: dict) -> None:
        entry["retention_keep_counts"] = list(self.soft.keep_counts())
        log["retention_keep_counts"] = entry["retention_keep_counts"]


def retention_search(args, model, context: dict) -> SoftStage | None:
    """The soft-extraction search (`args.retention_lambda`)."""
    if not args.retention_lambda:
        return None
    return RetentionSearch(attach_search(model, context["max_length"]), args.retention_lambda)
