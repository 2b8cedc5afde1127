"""leanbert inside a `sentence_transformers.SentenceTransformer` (mean pooling models).

`apply(st_model, config)` patches the Hugging Face model under the first (Transformer) module, and wraps that
model's forward (on the instance only) so that it returns, at every real position of the input, the sentence
vector pooled by leanbert's rule (pooling.py). The model's own Pooling module then averages identical vectors
over the input's attention mask, which gives back exactly leanbert's pooled vector; Normalize and anything
after it run unchanged. The wrapper is needed because the reduced model ends with fewer tokens than the mask
that sentence-transformers pools with, and some of them stand for several originals.
"""
from __future__ import annotations

import functools

import torch

from ..engine import api
from ..engine.config import ReductionConfig
from ..errors import ConfigError
from .pooling import pool

FORWARD_KEY = "forward"  # the instance attribute that shadows the class's forward


def _hf_model(st_model):
    """The Hugging Face model of a SentenceTransformer whose pooling is the mean (the only mode the pooled
    vector can stand in for)."""
    modules = list(st_model.children()) if isinstance(st_model, torch.nn.Module) else []
    first = modules[0] if modules else None
    inner = getattr(first, "auto_model", None) or getattr(first, "model", None)  # older releases: auto_model
    if inner is None or not hasattr(inner, "config"):
        raise ConfigError("leanbert.embeddings.st needs a SentenceTransformer whose first module holds a Hugging Face "
                          f"model; got {type(st_model).__name__}")
    for module in modules:
        mode = getattr(module, "pooling_mode", "mean") if type(module).__name__ == "Pooling" else "mean"
        modes = [mode] if isinstance(mode, str) else list(mode)
        if modes != ["mean"]:
            raise ConfigError(f"leanbert pools reduced tokens as a mean; this model pools with {mode!r}")
    return inner


def apply(st_model, config: ReductionConfig, rule: str = "exit"):
    """Run `st_model.encode` through the reduced model; returns the same object. Applying again replaces
    the config."""
    inner = _hf_model(st_model)
    inner.__dict__.pop(FORWARD_KEY, None)
    api.apply(inner, config)
    inner.forward = functools.partial(_pooled_forward, inner, rule)
    return st_model


def remove(st_model):
    """Undo `apply`: the plain sentence-transformers model again."""
    inner = _hf_model(st_model)
    inner.__dict__.pop(FORWARD_KEY, None)
    api.remove(inner)
    return st_model


def _pooled_forward(model, rule: str, input_ids=None, attention_mask=None, **kwargs):
    """The class's forward with leanbert's pooled vector (B, D) in place of every real token's state."""
    reductions: list = []
    out = type(model).forward(model, input_ids=input_ids, attention_mask=attention_mask,
                              leanbert_reductions=reductions, **kwargs)
    if attention_mask is None:
        attention_mask = torch.ones(out.last_hidden_state.shape[0], input_ids.shape[1], dtype=torch.long,
                                    device=out.last_hidden_state.device)
    mean = pool(out.last_hidden_state, attention_mask, reductions, rule).mean()  # (B, D)
    out.last_hidden_state = mean[:, None, :].expand(-1, attention_mask.shape[1], -1)  # (B, N, D), a view
    return out
