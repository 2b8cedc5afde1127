"""Attention sparsity of a pattern config's layers, measured on real examples (result rows of pattern methods)."""
from __future__ import annotations

from ..backbones import for_model
from ..engine import registry


def sparsity_fields(method, model, ds, cfg) -> dict:
    """The row fields `sparsity` and `sparsity_by_layer` (None unless `cfg` is an attention pattern)."""
    if cfg is None or not registry.spec_of(cfg).pattern:
        return {"sparsity": None}
    per_layer = layer_sparsity(method, model, ds)
    return {"sparsity": _mean_over_layers(per_layer), "sparsity_by_layer": {str(k): v for k, v in per_layer.items()}}


def mean_sparsity(method, model, ds) -> float:
    """Mean attention sparsity over the patterned layers, each example at its own length (real tokens)."""
    return _mean_over_layers(layer_sparsity(method, model, ds))


def _mean_over_layers(per_layer: dict[int, float]) -> float:
    return round(sum(per_layer.values()) / max(1, len(per_layer)), 4)


def layer_sparsity(method, model, ds) -> dict[int, float]:
    """Attention sparsity of each patterned layer, averaged over (up to 256) examples at their own lengths.
    The lexical pattern is measured on the input embeddings (the first layer's input) for every layer."""
    import torch

    from ..core.patterns import sparsity
    from ..data.syntax import collate_distances

    values = {index: [] for index in method.config.layers}
    backbone = for_model(model)
    with torch.no_grad():
        for features in ds.features[:256]:
            ids = torch.tensor([features["input_ids"]])
            key_mask = torch.ones_like(ids, dtype=torch.bool)
            hidden = backbone.embeddings(model, ids)  # (1, N, D): the pattern's lexical input at layer 0
            parse = collate_distances([features], ids.shape[1])  # None unless syntax.attach ran
            for index in values:
                values[index].append(sparsity(method.allowed_pairs(index, key_mask, hidden, parse), key_mask).item())
    return {index: round(sum(v) / max(1, len(v)), 4) for index, v in values.items()}
