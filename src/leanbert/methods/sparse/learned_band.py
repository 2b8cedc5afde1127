"""Learned neighbour degrees (Breaking BERT's LDPC-inspired method, reconstructed; DESIGN 1.4).

Soft stage: every patterned layer and head has a learnable width d. Its attention logits get log m added,
with the soft band m_ij = sigmoid((d - |i - j|) / tau) ([CLS]'s row and column 1 when global), so a head
attends to neighbours within about d positions and the gradient moves d. The loss adds lambda * the
expected density: the mean of m over real query-key pairs, layers and heads, which pulls the widths in; the
task loss pushes back where wide context pays. tau is annealed geometrically from tau_start to tau_end over
training, so the soft band hardens towards the hard one it will become.

Hard stage: width = floor(d) per layer and head (the soft band's m > 1/2 region: |i - j| < d), saved as
SparseConfig.head_widths, then fine-tuned with those masks (pipeline.learned_band_pipeline). One knob,
lambda, moves along the accuracy/sparsity curve.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import SparseConfig
from ...errors import ConfigError
from ...engine.method import ReductionMethod
from ...training.hooks import SoftStage

ATTR = "leanbert_band"


class LearnedDegrees(nn.Module):
    def __init__(self, num_layers: int, layers: tuple[int, ...], heads: int, init: float = 16.0,
                 tau_start: float = 4.0, tau_end: float = 0.5, global_cls: bool = True):
        super().__init__()
        layers = tuple(layers)
        if not layers or not all(0 <= i < num_layers for i in layers):
            raise ConfigError(f"invalid config field 'layers': learned bands need layers in [0, {num_layers}), got {layers}")
        if not (tau_start > 0 and tau_end > 0 and init >= 0):
            raise ConfigError("invalid config field 'band_temperature': temperatures must be > 0 and the initial width >= 0")
        self.num_layers, self.layers, self.global_cls = num_layers, layers, global_cls
        self.degree = nn.Parameter(torch.full((len(self.layers), heads), float(init)))  # (L_patterned, H)
        self.tau_start, self.tau_end = tau_start, tau_end
        self.progress = 0.0  # fraction of training done: anneals tau
        self.densities: list[torch.Tensor] = []  # expected densities of the current forward

    def temperature(self) -> float:
        return self.tau_start * (self.tau_end / self.tau_start) ** min(1.0, max(0.0, self.progress))

    def set_progress(self, fraction: float) -> None:
        self.progress = fraction

    def soft_band(self, slot: int, n: int, device) -> torch.Tensor:
        """(H, N, N) soft mask in (0, 1] for the `slot`-th patterned layer."""
        pos = torch.arange(n, device=device)
        distance = (pos[:, None] - pos[None, :]).abs().to(self.degree.dtype)  # (N, N)
        m = torch.sigmoid((self.degree[slot][:, None, None] - distance) / self.temperature())  # (H, N, N)
        if self.global_cls:
            first = (pos == 0)
            m = torch.where(first[:, None] | first[None, :], torch.ones_like(m), m)
        return m

    def penalty(self) -> torch.Tensor:
        """Mean expected density of the last forward's patterned layers; clears the record."""
        value = torch.stack(self.densities).mean() if self.densities else self.degree.sum() * 0
        self.densities = []
        return value

    def clip_(self) -> None:
        with torch.no_grad():
            self.degree.clamp_(min=0.0)

    def widths(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(max(0, math.floor(w)) for w in row) for row in self.degree.detach().tolist())

    def config(self) -> SparseConfig:
        return SparseConfig.for_layers(self.num_layers, self.layers, head_widths=self.widths(), global_cls=self.global_cls)


class SoftBandMethod(ReductionMethod):
    """Adds the log soft band to the attention logits of the patterned layers (soft stage only)."""

    def __init__(self, degrees: LearnedDegrees):
        super().__init__(SparseConfig.for_layers(degrees.num_layers, degrees.layers, global_cls=True))
        self.degrees = degrees

    def patterned(self, index: int) -> bool:
        return index in self.degrees.layers

    def attention_bias(self, index: int, key_mask: torch.Tensor, dtype) -> torch.Tensor:
        """(B, H, N, N) additive mask: log m on real keys, the dtype's minimum on pads."""
        n = key_mask.shape[1]
        m = self.degrees.soft_band(self.degrees.layers.index(index), n, key_mask.device)  # (H, N, N)
        real_pairs = (key_mask[:, :, None] & key_mask[:, None, :])[:, None].to(m.dtype)  # (B, 1, N, N)
        per_example = (m[None] * real_pairs).sum(dim=(-2, -1)) / real_pairs.sum(dim=(-2, -1)).clamp(min=1)  # (B, H)
        self.degrees.densities.append(per_example.mean())
        bias = m.clamp(min=1e-6).log().to(dtype)[None]  # (1, H, N, N)
        return bias.masked_fill(~key_mask[:, None, None, :], torch.finfo(dtype).min)


def attach_learned_band(model, layers, init: float = 16.0, tau_start: float = 4.0, tau_end: float = 0.5,
                        global_cls: bool = True) -> LearnedDegrees:
    from ...engine import patch

    encoder = patch.find_encoder(model)
    degrees = LearnedDegrees(len(patch.layers_of(encoder)), tuple(layers), model.config.num_attention_heads, init, tau_start,
                             tau_end, global_cls)
    setattr(model, ATTR, degrees)
    patch.install(encoder, SoftBandMethod(degrees))
    return degrees


class SoftBands(SoftStage):
    def log_epoch(self, model, log: dict, entry: dict) -> None:
        log["band_config"] = self.soft.config().to_dict()
        entry["band_widths"] = [list(w) for w in self.soft.widths()]
        entry["band_temperature"] = round(self.soft.temperature(), 4)


def learned_band(args, model, context: dict) -> SoftStage | None:
    """The learned-degree soft stage (`args.band_lambda`; 0 is meaningful: widths learned from the task alone)."""
    if args.band_lambda is None:
        return None
    layers = range(args.band_from_layer, model.config.num_hidden_layers)
    return SoftBands(attach_learned_band(model, layers, args.band_init, *args.band_temperature), args.band_lambda)
