"""Backbones: the per-family adapters (the only code that touches a family's internals) and the named
pretrained models leanbert can install (catalog.py).

`for_model(model)` / `for_config(hf_config)` give the adapter of a model's family (its `config.model_type`);
an unsupported family gets one line naming the supported ones.
"""
from ..errors import ConfigError
from .adapter import BertLike, ElectraLike, RobertaLike
from .catalog import BACKBONES, cache_root, install, installed_path
from .distilbert import DistilBertLike
from .modernbert import ModernBertLike
from .mpnet import MPNetLike

ADAPTERS = (BertLike(), RobertaLike(), ElectraLike(), DistilBertLike(), MPNetLike(), ModernBertLike())
FAMILIES = {model_type: adapter for adapter in ADAPTERS for model_type in adapter.model_types}


def supported_families() -> list[str]:
    return sorted(FAMILIES)


def for_config(hf_config):
    model_type = getattr(hf_config, "model_type", None)
    adapter = FAMILIES.get(model_type)
    if adapter is None:
        raise ConfigError(f"leanbert does not support model family {model_type!r}; supported: "
                          f"{', '.join(supported_families())}")
    return adapter


def for_model(model):
    config = getattr(model, "config", None)
    if config is None:
        raise ConfigError(f"leanbert needs a Hugging Face model with a config; got {type(model).__name__}")
    return for_config(config)


def dims(hf_config) -> tuple[int, int, int, int]:
    """(hidden, ffn, layers, heads) of any supported family."""
    return for_config(hf_config).dims(hf_config)


__all__ = ["ADAPTERS", "BACKBONES", "FAMILIES", "cache_root", "dims", "for_config", "for_model", "install",
           "installed_path", "supported_families"]
