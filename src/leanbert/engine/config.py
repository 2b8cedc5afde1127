"""The config base class: the fields every method shares, validation, and the JSON round trip. Each method's
own config subclass lives in its folder (methods/<name>/config.py) and is found through the registry.

A config is stored under the single key `leanbert` of a Hugging Face `model.config`, so it is saved
by `save_pretrained` and re-applied by `leanbert.from_pretrained`.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from ..errors import ConfigError

FORMAT_VERSION = 1
CONFIG_KEY = "leanbert"


def check_field(cond: bool, field_name: str, message: str) -> None:
    """Raise the one-line error that names the config field at fault."""
    if not cond:
        raise ConfigError(f"invalid config field '{field_name}': {message}")


@dataclass(frozen=True)
class ReductionConfig:
    """Shared fields of every token-reduction method.

    The keep schedule is given in exactly one of two ways:
      keep_counts    -- tokens kept after each layer, absolute integers (PoWER-BERT, FCA style);
      keep_fractions -- tokens kept after each layer as a fraction of the input length N_0 (ACC style),
                        turned into integer counts by integer arithmetic outside `forward`.
    A layer whose count is not below the current length does no selection and keeps SDPA.
    """

    method: str = "power"
    keep_counts: tuple[int, ...] | None = None
    keep_fractions: tuple[float, ...] | None = None
    min_tokens: int = 1
    pattern: "ReductionConfig | None" = None  # an attention pattern (a sparse config) run together with the reduction

    def __post_init__(self):
        for name in ("keep_counts", "keep_fractions"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.pattern, dict):  # from JSON
            object.__setattr__(self, "pattern", config_from_dict(self.pattern))
        self.validate()

    def validate(self) -> None:
        from . import registry  # late import: the method folders import this module

        check_field(self.method in registry.specs(), "method",
                    f"unknown method '{self.method}', choose from {registry.names()}")
        check_field((self.keep_counts is None) != (self.keep_fractions is None), "keep_counts",
                    "give exactly one of keep_counts or keep_fractions")
        check_field(isinstance(self.min_tokens, int) and self.min_tokens >= 1, "min_tokens", "must be an integer >= 1")
        if self.keep_counts is not None:
            for c in self.keep_counts:
                check_field(isinstance(c, int) and not isinstance(c, bool) and c >= 1, "keep_counts",
                            f"every count must be an integer >= 1, got {c!r}")
            check_field(_non_increasing(self.keep_counts), "keep_counts", "counts must not increase over layers")
        if self.keep_fractions is not None:
            for f in self.keep_fractions:
                check_field(isinstance(f, (int, float)) and math.isfinite(f) and 0 < f <= 1, "keep_fractions",
                            f"every fraction must be in (0, 1], got {f!r}")
            check_field(_non_increasing(self.keep_fractions), "keep_fractions", "fractions must not increase over layers")
        if self.pattern is not None:
            self._check_pattern(registry)

    def _check_pattern(self, registry) -> None:
        check_field(isinstance(self.pattern, ReductionConfig) and registry.spec_of(self.pattern).pattern
                    and not registry.spec_of(self).pattern, "pattern",
                    "must be a SparseConfig (an attention pattern), on a token-reduction config")
        check_field(self.pattern.num_layers == self.num_layers, "pattern",
                    f"has {self.pattern.num_layers} layers, the profile {self.num_layers}")
        reason = self.pattern.composition_error()
        check_field(reason is None, "pattern", reason or "")

    def composition_error(self) -> str | None:
        """Why this config cannot run composed with a token reduction (as its `pattern`), or None."""
        return None

    @property
    def needs_syntax(self) -> bool:
        """Whether running this config needs each batch's dependency parse (data/syntax.py)."""
        return False

    @property
    def num_layers(self) -> int:
        return len(self.keep_counts if self.keep_counts is not None else self.keep_fractions)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if out["pattern"] is None:
            del out["pattern"]  # configs without a pattern keep the JSON they always had
        else:
            out["pattern"] = self.pattern.to_dict()
        out["format_version"] = FORMAT_VERSION
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes) -> "ReductionConfig":
        return dataclasses.replace(self, **changes)


def uses_syntax(config) -> bool:
    """Whether running `config` (None: dense) needs each batch's dependency parse (syntax.attach)."""
    return config is not None and config.needs_syntax


def _non_increasing(values) -> bool:
    return all(b <= a for a, b in zip(values, values[1:]))


def config_from_dict(data: dict) -> ReductionConfig:
    """Rebuild a config from its JSON form (the class its "method" names), naming what is wrong if it cannot."""
    from . import registry

    if not isinstance(data, dict):
        raise ConfigError(f"a leanbert config must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    version = data.pop("format_version", FORMAT_VERSION)
    check_field(isinstance(version, int) and version <= FORMAT_VERSION, "format_version",
                f"written by a newer leanbert (format {version}, this one reads up to {FORMAT_VERSION}); upgrade leanbert")
    method = data.get("method")
    check_field(method in registry.specs(), "method", f"unknown method {method!r}, choose from {registry.names()}")
    cls = registry.get(method).config
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    check_field(not unknown, unknown[0] if unknown else "", f"not a field of {cls.__name__}")
    return cls(**data)


def config_from_json(text: str) -> ReductionConfig:
    try:
        return config_from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise ConfigError(f"leanbert config is not valid JSON: {e.msg} at line {e.lineno}") from None
