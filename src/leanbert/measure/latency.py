"""A latency model calibrated on the machine at hand.

The analytic FLOPs model says what a profile should save; this one says what it does save here. We
time the pieces of one encoder layer at several token counts -- attention with the model's own kernel
(SDPA), attention computed eagerly with probabilities (scoring layers), and the feed-forward block --
fit each with a low-order polynomial in the token count, and predict a profile's latency as the sum
of its pieces. The gap between predicted and measured speedup is a reported figure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils import benchmark

from ..engine import masks, patch
from ..engine.attention import attention_with_stats


def _median_seconds(fn, min_run_time: float) -> float:
    fn()
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads()) \
        .blocked_autorange(min_run_time=min_run_time).median


@dataclass
class LatencyModel:
    batch_size: int
    attention: np.ndarray  # polynomial coefficients in n (degree 2), seconds per layer
    scoring_attention: np.ndarray
    ffn: np.ndarray  # degree 1

    @classmethod
    def fit(cls, model, batch_size: int, lengths=(8, 32, 64, 128, 256), min_run_time: float = 0.2) -> "LatencyModel":
        encoder = patch.find_encoder(model)
        layer, backbone = patch.layers_of(encoder)[0], patch.backbone_of(encoder)
        hidden_size = model.config.hidden_size
        rows = {"attention": [], "scoring": [], "ffn": []}
        with torch.inference_mode():
            for n in lengths:
                h = torch.randn(batch_size, n, hidden_size)
                key_mask = torch.ones(batch_size, n, dtype=torch.bool)
                key_mask[:, n - max(1, n // 8):] = False  # some padding, as in real batches
                mask = masks.hf_mask(model.config, h, key_mask)
                positions = torch.arange(n, dtype=h.dtype).expand(batch_size, n)  # families that read positions
                bias = backbone.position_bias(encoder, positions) if backbone.carries_positions else None
                rows["attention"].append(_median_seconds(lambda: backbone.run_attention(layer, h, mask, bias),
                                                         min_run_time))
                rows["scoring"].append(_median_seconds(
                    lambda: attention_with_stats(layer, h, key_mask, backbone=backbone, position_bias=bias), min_run_time))
                rows["ffn"].append(_median_seconds(lambda: backbone.feed_forward(layer, h), min_run_time))
        n = np.asarray(lengths, dtype=float)
        quadratic = min(2, len(lengths) - 1)
        return cls(batch_size, np.polyfit(n, rows["attention"], quadratic), np.polyfit(n, rows["scoring"], quadratic),
                   np.polyfit(n, rows["ffn"], 1))

    def layer_seconds(self, n_in: int, n_out: int) -> float:
        attention = self.scoring_attention if n_out < n_in else self.attention
        return float(np.polyval(attention, n_in) + np.polyval(self.ffn, n_out))

    def encoder_seconds(self, n0: int, plan: list[int] | None, num_layers: int) -> float:
        plan = plan or [n0] * num_layers
        ins = [n0] + plan[:-1]
        return sum(self.layer_seconds(i, o) for i, o in zip(ins, plan))

    def predicted_speedup(self, batch_lengths: list[int], method, num_layers: int) -> float:
        """Dense over reduced encoder time, summed over batches of the given padded lengths."""
        dense = sum(self.encoder_seconds(n, None, num_layers) for n in batch_lengths)
        reduced = sum(self.encoder_seconds(n, method.plan(n), num_layers) for n in batch_lengths)
        return dense / reduced
