"""Analytic FLOPs (2 per multiply-add), cross-checked against FlopCounterMode in tests/test_flops.py."""
from __future__ import annotations

from .schedule import layer_flops


def encoder_flops(n0: int, plan: list[int] | None, hidden: int, ffn: int, num_layers: int,
                  value_norm: bool = False, coarse: int = 0) -> int:
    """Encoder FLOPs for one example of n0 tokens. `plan` is the method's keep count per layer
    (None: dense). Scoring layers run their attention eagerly: the same matmuls as dense. The
    value-norm score adds one (N, D) x (D, D) product per scoring layer; FCA's merge into `coarse`
    tokens is one (k, N) x (N, D) product, and the FFN then runs on n_keep + k tokens."""
    plan = plan if plan is not None else [n0] * num_layers
    total, n_in = 0, n0
    for n_keep in plan:
        reduces = n_keep + coarse < n_in
        n_out = n_keep + coarse if reduces else n_in
        total += layer_flops(n_in, n_out, hidden, ffn)
        if reduces:
            total += (2 * n_in * hidden * hidden if value_norm else 0) + 2 * coarse * n_in * hidden
        n_in = n_out
    return total


def head_flops(hidden: int, num_labels: int) -> int:
    """Pooler (D x D) and classifier (D x labels) on the [CLS] vector."""
    return 2 * hidden * hidden + 2 * hidden * num_labels


def model_dims(hf_config) -> tuple[int, int, int]:
    return hf_config.hidden_size, hf_config.intermediate_size, hf_config.num_hidden_layers


def mean_gflops(lengths: list[int], hf_config, method=None) -> float:
    """Mean encoder+head GFLOPs per example, each example at its own length (batch 1, no padding)."""
    hidden, ffn, layers = model_dims(hf_config)
    config = getattr(method, "config", None)
    value_norm = getattr(config, "score", None) == "value_norm"
    coarse = getattr(config, "coarse", 0)
    total = 0
    for n in lengths:
        plan = method.plan(n) if method is not None else None
        total += encoder_flops(n, plan, hidden, ffn, layers, value_norm, coarse) + head_flops(hidden, hf_config.num_labels)
    return total / max(1, len(lengths)) / 1e9
