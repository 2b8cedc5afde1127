"""LTP's soft stage: learning one threshold per layer (Kim et al., KDD 2022), reconstructed.

Every layer scores its tokens (normalised importance, 1.0 = an average token) and multiplies each
token's layer output by the soft mask sigmoid((importance - threshold_l) / temperature) ([CLS] 1, pads 0).
The loss adds lambda * the mean soft fraction of real tokens kept (over layers and examples), which
pushes the thresholds up; the task loss pushes back. After the soft stage the thresholds (clamped at 0)
become an LTPConfig and the model is fine-tuned with hard pruning (pipeline.ltp_pipeline).
"""
from __future__ import annotations

import torch
from torch import nn

from ...core import scoring
from .config import LTPConfig
from ...engine.method import ReductionMethod
from ...training.hooks import SoftStage

ATTR = "leanbert_ltp"


class LTPThresholds(nn.Module):
    def __init__(self, num_layers: int, init: float = 0.0, temperature: float = 0.1):
        super().__init__()
        self.threshold = nn.Parameter(torch.full((num_layers,), float(init)))  # (L,)
        self.temperature = temperature
        self.kept: list[torch.Tensor] = []  # soft kept fractions of the current forward (training bookkeeping)

    def penalty(self) -> torch.Tensor:
        """Mean soft fraction of real tokens kept in the last forward; clears the record."""
        value = torch.stack(self.kept).mean() if self.kept else self.threshold.sum() * 0
        self.kept = []
        return value

    def config(self) -> LTPConfig:
        return LTPConfig.from_thresholds(round(max(0.0, t), 4) for t in self.threshold.detach().tolist())


class SoftLTPMethod(ReductionMethod):
    """Scales each token's layer output by its soft mask instead of removing it (soft stage only)."""

    def __init__(self, weights: LTPThresholds):
        super().__init__(LTPConfig.from_thresholds([1.0] * weights.threshold.shape[0]))
        self.weights = weights

    def scores_layer(self, index, n_in, n_keep) -> bool:
        return True

    def score(self, stats, key_mask, values=None, out_weight=None):
        return scoring.normalised_importance(stats, key_mask)

    def reduce(self, hidden, key_mask, scores, n_keep, index=0, sizes=None):
        logits = (scores.nan_to_num(neginf=-1e4) - self.weights.threshold[index]) / self.weights.temperature
        mask = torch.sigmoid(logits) * key_mask  # (B, N): pads 0
        mask = torch.cat([key_mask[:, :1].to(mask.dtype), mask[:, 1:]], dim=1)  # [CLS] kept whole
        real = key_mask.sum(dim=1).clamp(min=1)
        self.weights.kept.append((mask.sum(dim=1) / real).mean())
        return hidden, key_mask, mask  # the mask rides in `sizes` to finish_layer

    def finish_layer(self, hidden, sizes):
        return hidden * sizes[..., None]  # LTP masks the layer's output activations


def attach_soft_ltp(model, init: float = 0.0, temperature: float = 0.1) -> LTPThresholds:
    from ...engine import patch

    encoder = patch.find_encoder(model)
    weights = LTPThresholds(len(patch.layers_of(encoder)), init, temperature)
    setattr(model, ATTR, weights)
    patch.install(encoder, SoftLTPMethod(weights))
    return weights


class SoftLTP(SoftStage):
    def log_epoch(self, model, log: dict, entry: dict) -> None:
        log["ltp_config"] = self.soft.config().to_dict()
        entry["ltp_thresholds"] = list(self.soft.config().thresholds)


def soft_ltp(args, model, context: dict) -> SoftStage | None:
    """LTP's soft stage (`args.ltp_lambda`)."""
    if not args.ltp_lambda:
        return None
    return SoftLTP(attach_soft_ltp(model, temperature=args.ltp_temperature), args.ltp_lambda)
