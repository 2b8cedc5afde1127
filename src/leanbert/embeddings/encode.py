"""Sentence embeddings of a (reduced) base encoder: length-sorted batches, the input order restored.

`embed(model, tokenizer, texts, config | speedup)` is the Python API; `load_encoder` loads the base model of a
local directory (the shipped all-MiniLM-L6-v2 by default) without any task head.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..engine import api
from ..engine import registry
from ..engine.config import ReductionConfig
from ..errors import ConfigError
from .pooling import mean_pool

# training-free at a speedup (ACC's score needs no training either): the registry's profiled methods
METHODS = tuple(name for name, spec in sorted(registry.specs().items()) if spec.profiled)
DEFAULT_METHOD = "tome"  # merging loses least without training (docs/methods.md, "Sentence embeddings")


def load_encoder(model: str | os.PathLike | None = None, attn_implementation: str = "sdpa"):
    """(base model, tokenizer, max_length) of a local directory; max_length is the sentence-transformers
    setting saved beside the weights (sentence_bert_config.json) when present, else the model's limit."""
    from transformers import AutoModel

    from ..backbones import for_config
    from ..errors import ModelLoadError
    from ..engine.models import LOCAL_ONLY, _quiet_transformers, load_config, load_tokenizer, resolve_model_dir

    _quiet_transformers()
    path = resolve_model_dir(model)
    config = load_config(path)
    adapter = for_config(config)
    kernel = attn_implementation if attn_implementation in adapter.attn_implementations else adapter.attn_implementations[0]
    try:
        net = AutoModel.from_pretrained(path, attn_implementation=kernel, **LOCAL_ONLY).eval()
    except Exception as e:  # noqa: BLE001 - any failure here is a broken directory for the user
        raise ModelLoadError(f"cannot load an encoder from {path}: {type(e).__name__}: {str(e)[:300]}") from None
    return api.reapply_saved(net), load_tokenizer(path), _max_length(path, config, adapter)


def _max_length(path: Path, config, adapter) -> int:
    limit = adapter.max_length(config)
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        return min(limit, int(json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length", limit)))
    return limit


def config_for(model, method: str = DEFAULT_METHOD, speedup: float = 1.0, n0: int = 128,
               start_layer: int = 0) -> ReductionConfig | None:
    """A training-free config for `speedup` (predicted FLOPs at n0 tokens): a geometric keep profile that
    starts reducing at `start_layer`; None at speedup 1 (the dense model)."""
    from ..measure.flops import model_dims
    from ..core.schedule import solve_fractions

    if method not in METHODS:
        raise ConfigError(f"invalid config field 'method': {method!r} is not one of {', '.join(METHODS)}")
    if speedup == 1:
        return None
    hidden, ffn, layers, _ = model_dims(model.config)
    if not 0 <= start_layer < layers:
        raise ConfigError(f"invalid config field 'start_layer': {start_layer} is outside [0, {layers - 1}]")
    fractions = solve_fractions(speedup, layers, n0, hidden, ffn, start_layer=start_layer)
    return registry.get(method).config(keep_fractions=fractions)


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped longest first, each batch of one token length only (the first batch is the largest: a
    memory problem shows at once, not at the end). Equal lengths matter: a reduced model keeps a fraction of
    the batch's padded length, so a short text padded beside a long one would keep more of its own tokens,
    and its embedding would depend on its neighbours; here a text's embedding depends on the text alone."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        if current and (len(current) == batch_size or lengths[current[0]] != lengths[i]):
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])


CHARS_PER_TOKEN = 100  # a text is cut to max_length x this many characters before tokenizing (see tokenize)


def tokenize(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], int]:
    """Token ids per text, truncated to max_length as sentence-transformers does, and how many texts were.

    A multi-megabyte line would cost the tokenizer seconds and memory for tokens that truncation then
    throws away, so texts are first cut to max_length x CHARS_PER_TOKEN characters: far more than max_length
    tokens of any real text (a word piece is rarely over 20 characters)."""
    cut = [t[:max_length * CHARS_PER_TOKEN] for t in texts]
    ids = tokenizer(cut, truncation=True, max_length=max_length + 1)["input_ids"]  # one more: tells who was cut
    truncated = sum(len(x) > max_length for x in ids)
    return [x if len(x) <= max_length else x[:max_length - 1] + x[-1:] for x in ids], truncated


@torch.inference_mode()
def embed(model, tokenizer, texts: list[str], config: ReductionConfig | None = None, speedup: float | None = None,
          batch_size: int = 32, max_length: int = 256, method: str = DEFAULT_METHOD, rule: str = "exit",
          normalize: bool = True, progress=None) -> np.ndarray:
    """(len(texts), D) float32 embeddings in the order of `texts`; `config` (or a training-free one for
    `speedup`) is applied for the call only. `progress(n)` is told how many texts each batch finished."""
    if config is not None and speedup is not None:
        raise ConfigError("embed() takes a config or a speedup, not both")
    if speedup is not None:
        config = config_for(model, method, speedup, n0=max_length)
    if batch_size < 1:
        raise ConfigError(f"invalid config field 'batch_size': needs >= 1, got {batch_size}")
    ids = tokenize(tokenizer, texts, max_length)[0]
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with api.applied(model, config):
        for batch in sorted_batches([len(x) for x in ids], batch_size):
            inputs = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            inputs = {k: v.to(model.device) for k, v in inputs.items()}
            out[batch] = mean_pool(model, inputs, rule, normalize).float().cpu().numpy()
            if progress is not None:
                progress(len(batch))
    return out
