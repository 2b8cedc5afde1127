"""Sparse configs from command-line options: one per first patterned layer, or one composed with a reduction."""
from __future__ import annotations

from ...errors import ConfigError
from .config import SparseConfig


def patterned_layers(start: int, layers: int) -> range:
    """Layers `start`..last; a start outside the model would give an empty pattern, a dense run labelled sparse."""
    if not 0 <= start < layers:
        raise ConfigError(f"invalid config field 'from_layers': {start} is not a layer of this {layers}-layer "
                          f"model (0 to {layers - 1})")
    return range(start, layers)


def configs(request) -> list:
    """`--method sparse`: one config per first patterned layer (`from_layers`)."""
    pattern = dict(request.pattern or {})
    layers = request.dims[2]
    starts = pattern.pop("from_layers", None) or [0]
    return [(None, SparseConfig.for_layers(layers, patterned_layers(l0, layers), **pattern)) for l0 in starts]


def composed_pattern(pattern: dict | None, layers: int):
    """A sparse pattern to run with a reduction method, when the sparse options ask for one."""
    pattern = dict(pattern or {})
    if not any(pattern.get(k, 0) > 0 for k in ("width", "n_random", "lexical_top", "syntax_hops")):
        return None
    start = (pattern.pop("from_layers", None) or [0])[0]
    return SparseConfig.for_layers(layers, patterned_layers(start, layers), **pattern)


def variant(cfg) -> str:
    """A sparse row's label: the pattern's knobs and its first patterned layer."""
    lexical = (f"-lex{cfg.lexical_top}" if cfg.lexical_top else "") + (f"-syn{cfg.syntax_hops}" if cfg.syntax_hops else "")
    return f"sparse-w{cfg.width}-r{cfg.n_random}{lexical}{'-g' if cfg.global_cls else ''}-from{min(cfg.layers, default=0)}"
