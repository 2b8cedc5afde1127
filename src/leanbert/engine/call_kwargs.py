"""The leanbert keyword arguments of one call (`leanbert_config`, `leanbert_scores`, `leanbert_reductions`, syntax
distances), carried from the model the user calls to the encoder loop in patch.py, past forwards that drop keyword
arguments they do not know."""
from __future__ import annotations

import functools
import threading

import torch

from ..data import syntax

PER_CALL_KWARG = "leanbert_config"  # model(**batch, leanbert_config=cfg) overrides the applied config for one call
# model(**batch, leanbert_scores=[]) appends (scores (B, N), key_mask (B, N)) of every layer to the list: the
# per-call state the elastic recipe's ranking distillation reads (layers that keep every token score too)
SCORES_KWARG = "leanbert_scores"
# model(**batch, leanbert_reductions=[]) appends (index, (hidden, mask, sizes) before, the same after) of every
# reducing layer: what leaves the sequence there, which embeddings/pooling.py pools (sizes None: one token each)
REDUCTIONS_KWARG = "leanbert_reductions"
CALL_KWARGS = (PER_CALL_KWARG, SCORES_KWARG, REDUCTIONS_KWARG, syntax.KWARG)
# The leanbert keyword arguments of one call, between the model the user calls and its encoder loop, per thread
# (a server may call from several): {id(encoder): {name: value}}.
_pending = threading.local()


def carry(model: torch.nn.Module, encoder: torch.nn.Module) -> None:
    """Make `model(..., leanbert_config=...)` (and the other CALL_KWARGS) reach the encoder loop whatever the
    family's forwards do with keyword arguments they do not know: Hugging Face's MPNet forwards drop them (the
    call would silently run the applied config instead). A pre-hook on `model` takes them out of the call, the loop
    picks them up; a post-hook clears what a failed call left. Idempotent; hooks are module-level partials (they
    deep-copy and pickle with the model)."""
    if model is encoder or any(_is_ours(h) for h in model._forward_pre_hooks.values()):
        return
    model.register_forward_pre_hook(functools.partial(_take_call_kwargs, encoder), with_kwargs=True)
    model.register_forward_hook(functools.partial(_forget_call_kwargs, encoder), always_call=True)


def drop_hooks(model: torch.nn.Module) -> None:
    for hooks in (model._forward_pre_hooks, model._forward_hooks):
        for key in [k for k, h in hooks.items() if _is_ours(h)]:
            del hooks[key]
            model._forward_hooks_always_called.pop(key, None)
            model._forward_pre_hooks_with_kwargs.pop(key, None)


def _is_ours(hook) -> bool:
    return isinstance(hook, functools.partial) and hook.func in (_take_call_kwargs, _forget_call_kwargs)


def _calls() -> dict:
    if not hasattr(_pending, "calls"):
        _pending.calls = {}
    return _pending.calls


def _take_call_kwargs(encoder, module, args, kwargs):
    found = {k: kwargs.pop(k) for k in CALL_KWARGS if k in kwargs}
    if found:
        _calls()[id(encoder)] = found
    return args, kwargs


def _forget_call_kwargs(encoder, module, args, output):
    _calls().pop(id(encoder), None)


def carried(encoder, kwargs: dict) -> dict:
    """The call's own keyword arguments with the ones carried from the model the user called."""
    return {**_calls().pop(id(encoder), {}), **kwargs}
