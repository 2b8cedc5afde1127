"""Analytic FLOPs (2 per multiply-add), cross-checked against FlopCounterMode in tests/test_flops.py."""
from __future__ import annotations

from ..core.schedule import layer_flops


def encoder_flops(n0: int, hidden: int, ffn: int, num_layers: int, method=None, heads: int = 1) -> int:
    """Encoder FLOPs for one example of n0 tokens under `method` (None: dense). Scoring layers run their
    attention explicitly: the same matmuls as dense; what a method adds (summing the attention each key
    receives, a value-norm product, a merge) comes from its `overhead_flops`, and its output length from
    `tokens_after`."""
    plan = method.plan(n0) if method is not None else [n0] * num_layers
    total, n_in = 0, n0
    for index, n_keep in enumerate(plan):
        reduces = method is not None and method.scores_layer(index, n_in, n_keep)
        n_out = method.tokens_after(n_in, n_keep) if reduces else n_in
        total += layer_flops(n_in, n_out, hidden, ffn) + (method.overhead_flops(index, n_in, hidden, heads) if reduces else 0)
        if method is not None:  # banded attention skips masked work: count the pairs it does score
            total += method.attention_flops(index, n_in, hidden) - 4 * n_in * n_in * hidden
        n_in = n_out
    return total


def head_flops(hidden: int, num_labels: int) -> int:
    """Pooler (D x D) and classifier (D x labels) on the [CLS] vector."""
    return 2 * hidden * hidden + 2 * hidden * num_labels


def model_dims(hf_config) -> tuple[int, int, int, int]:
    """(hidden, ffn, layers, heads) of any supported family (its adapter knows the field names)."""
    from ..backbones import dims

    return dims(hf_config)


def mean_gflops(lengths: list[int], hf_config, method=None) -> float:
    """Mean embeddings+encoder+head GFLOPs per example, each example at its own length (batch 1, no padding)."""
    from ..backbones import for_config

    hidden, ffn, layers, heads = model_dims(hf_config)
    embed = for_config(hf_config).embedding_flops
    total = sum(embed(hf_config, n) + encoder_flops(n, hidden, ffn, layers, method, heads)
                + head_flops(hidden, hf_config.num_labels) for n in lengths)
    return total / max(1, len(lengths)) / 1e9


def counted_gflops(model, ds, max_examples: int = 200) -> float:
    """Mean GFLOPs per example counted by FlopCounterMode, each example alone (batch 1, no padding): for
    methods whose token counts depend on the data (LTP), where no analytic count exists. SDPA runs on its
    math backend here, because FlopCounterMode has no formula for the CPU flash kernel."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    total, n = 0, min(max_examples, len(ds))
    with torch.inference_mode(), sdpa_kernel([SDPBackend.MATH]):
        for features in ds.features[:n]:
            inputs = {k: torch.tensor([v]) for k, v in features.items()}
            with FlopCounterMode(display=False) as counter:
                model(**inputs)
            total += counter.get_total_flops()
    return total / max(1, n) / 1e9
