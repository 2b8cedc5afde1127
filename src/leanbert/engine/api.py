"""Public entry points: apply / remove / from_pretrained / current_config."""
from __future__ import annotations

import contextlib

from . import call_kwargs, patch
from .config import CONFIG_KEY, ReductionConfig, config_from_dict
from ..errors import ConfigError
from .registry import build_method


def apply(model, config: ReductionConfig):
    """Patch a Hugging Face BERT model in place to run `config`; returns the same model.

    Applying again replaces the previous config (safe to call twice). The config is stored under
    `model.config.leanbert`, so `save_pretrained` keeps it and `leanbert.from_pretrained` re-applies it.
    """
    if not isinstance(config, ReductionConfig):
        raise ConfigError(f"apply() needs a leanbert config object, got {type(config).__name__}")
    encoder = patch.find_encoder(model)
    n_layers = len(patch.layers_of(encoder))
    if config.num_layers != n_layers:
        field = "keep_counts" if config.keep_counts is not None else "keep_fractions"
        raise ConfigError(f"invalid config field '{field}': has {config.num_layers} entries but the model has "
                          f"{n_layers} layers")
    patch.install(encoder, build_method(config), head=type(model).__name__)
    call_kwargs.carry(model, encoder)
    setattr(model.config, CONFIG_KEY, config.to_dict())
    return model


def remove(model):
    """Undo `apply`: the model is the plain Hugging Face model again. Safe on an unpatched model."""
    patch.uninstall(patch.find_encoder(model))
    call_kwargs.drop_hooks(model)
    if hasattr(model.config, CONFIG_KEY):
        delattr(model.config, CONFIG_KEY)
    return model


def current_config(model) -> ReductionConfig | None:
    method = patch.installed_method(patch.find_encoder(model))
    return None if method is None else method.config


def reapply_saved(model):
    """Apply the config saved in `model.config` (if any); used after loading a checkpoint."""
    saved = getattr(model.config, CONFIG_KEY, None)
    if saved is not None:
        apply(model, config_from_dict(saved))
    return model


@contextlib.contextmanager
def applied(model, config: ReductionConfig | None):
    """Run a block with `config` applied (None: the plain dense model); the previous state comes back after."""
    previous = current_config(model)
    apply(model, config) if config is not None else remove(model)
    try:
        yield model
    finally:
        apply(model, previous) if previous is not None else remove(model)
