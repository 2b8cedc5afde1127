"""The one registry of methods: name -> MethodSpec (its config class, its hooks, what it can do).

Each folder under methods/ registers itself once (its `__init__` calls `register`); the folders are found by
walking the `leanbert.methods` package, so adding a method is adding a folder. Code outside methods/ never
compares method names: it asks a spec's capability flags or calls its hooks.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError


@dataclass(frozen=True)
class MethodSpec:
    name: str
    config: type  # the frozen config dataclass (an engine.config.ReductionConfig)
    method: type  # the inference hooks (an engine.method.ReductionMethod)
    exportable: bool = False  # traces into one graph with symbolic lengths (ONNX export, torch.export)
    profiled: bool = False  # a keep profile is solved per target speedup (--speedup)
    takes_counts: bool = False  # runs absolute keep counts (--keep-counts)
    data_dependent: bool = False  # tokens kept vary per example: FLOPs are counted, no static plan to predict from
    adjustable: bool = False  # offline tuning makes one checkpoint serve any speedup, chosen per request
    pattern: bool = False  # an attention pattern keeping every token: composes with reductions, has a sparsity
    configs: Callable | None = None  # (methods.common.ConfigRequest) -> [(target speedup or None, config)]
    variant: Callable | None = None  # config -> the short label of a result row (default: the name)
    searched: Callable | None = None  # ConfigRequest -> whether its configs come from a checkpoint's searched table

    def label(self, config) -> str:
        return self.variant(config) if self.variant else self.name


_SPECS: dict[str, MethodSpec] = {}
_discovered = False


def register(spec: MethodSpec) -> MethodSpec:
    if spec.name in _SPECS and _SPECS[spec.name] != spec:
        raise ValueError(f"method {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def _discover() -> None:
    """Import every folder of leanbert.methods once: each registers its method."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from .. import methods

    for info in pkgutil.iter_modules(methods.__path__):
        if info.ispkg:
            importlib.import_module(f"{methods.__name__}.{info.name}")


def specs() -> dict[str, MethodSpec]:
    _discover()
    return dict(_SPECS)


def names() -> list[str]:
    return sorted(specs())


def get(name: str) -> MethodSpec:
    """The spec of a method name; an unknown name gets one line naming the known ones."""
    found = specs().get(name)
    if found is None:
        raise ConfigError(f"invalid config field 'method': unknown method {name!r}, choose from {names()}")
    return found


def has(name: str, capability: str) -> bool:
    """Whether a registered method has a capability flag (False for names that are no method: dense, saved)."""
    found = specs().get(name)
    return bool(found and getattr(found, capability))


def spec_of(config) -> MethodSpec:
    return get(config.method)


def build_method(config):
    """The hooks object running `config` in the encoder loop."""
    return spec_of(config).method(config)
