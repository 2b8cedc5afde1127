"""Frozen, validated config dataclasses, one per method, with a JSON round trip.

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


def _check(cond: bool, field_name: str, message: str) -> None:
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
    pattern: "SparseConfig | None" = None  # a sparse attention pattern run together with the reduction

    def __post_init__(self):
        for name in ("keep_counts", "keep_fractions"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.pattern, dict):  # from JSON
            object.__setattr__(self, "pattern", config_from_dict(self.pattern))
        self.validate()

    def validate(self) -> None:
        from ..methods import METHODS  # late import: methods import this module

        _check(self.method in METHODS, "method", f"unknown method '{self.method}', choose from {sorted(METHODS)}")
        _check((self.keep_counts is None) != (self.keep_fractions is None), "keep_counts",
               "give exactly one of keep_counts or keep_fractions")
        _check(isinstance(self.min_tokens, int) and self.min_tokens >= 1, "min_tokens", "must be an integer >= 1")
        if self.keep_counts is not None:
            for c in self.keep_counts:
                _check(isinstance(c, int) and not isinstance(c, bool) and c >= 1, "keep_counts",
                       f"every count must be an integer >= 1, got {c!r}")
            _check(_non_increasing(self.keep_counts), "keep_counts", "counts must not increase over layers")
        if self.keep_fractions is not None:
            for f in self.keep_fractions:
                _check(isinstance(f, (int, float)) and math.isfinite(f) and 0 < f <= 1, "keep_fractions",
                       f"every fraction must be in (0, 1], got {f!r}")
            _check(_non_increasing(self.keep_fractions), "keep_fractions", "fractions must not increase over layers")
        if self.pattern is not None:
            _check(isinstance(self.pattern, SparseConfig) and self.method != "sparse", "pattern",
                   "must be a SparseConfig, on a token-reduction config")
            _check(self.pattern.num_layers == self.num_layers, "pattern",
                   f"has {self.pattern.num_layers} layers, the profile {self.num_layers}")
            _check(self.pattern.syntax_hops == 0, "pattern", "the syntax pattern cannot be composed with token "
                   "reduction (its parse links word pieces by position, and removed tokens shift positions)")

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


@dataclass(frozen=True)
class PowerConfig(ReductionConfig):
    """PoWER-BERT: drop the least-attended tokens, no coarse tokens."""

    method: str = "power"


@dataclass(frozen=True)
class ACCConfig(ReductionConfig):
    """ACC word-vector elimination (reconstructed from the abstract, see docs/methods.md).

    score: "acc" (head-averaged attention received, normalised by real queries) or "value_norm"
    (attention weighted by the norm of the transformed value vector, ||a_ij v_j W_O||).
    """

    method: str = "acc"
    score: str = "acc"

    def validate(self) -> None:
        super().validate()
        _check(self.score in ("acc", "value_norm"), "score", f"unknown score '{self.score}', use 'acc' or 'value_norm'")


@dataclass(frozen=True)
class FCAConfig(ReductionConfig):
    """FCA: fine tokens plus `coarse` merged tokens per layer (coarse=0 is PoWER-BERT).

    merge: "mean" or "weighted" (softmax of the scores within each chunk, a convex combination);
    divide_by_count: also divide by the chunk size, as the reference code does (off by default).
    """

    method: str = "fca"
    coarse: int = 1
    merge: str = "weighted"
    divide_by_count: bool = False

    def validate(self) -> None:
        super().validate()
        _check(isinstance(self.coarse, int) and 0 <= self.coarse <= 64, "coarse", "must be an integer in [0, 64]")
        _check(self.merge in ("mean", "weighted"), "merge", f"unknown merge {self.merge!r}, use 'mean' or 'weighted'")


@dataclass(frozen=True)
class TomeConfig(ReductionConfig):
    """ToMe-style merging (a peer, no training): the profile says how many tokens remain per layer."""

    method: str = "tome"
    proportional_attention: bool = True


@dataclass(frozen=True)
class LTPConfig(ReductionConfig):
    """Learned Token Pruning (Kim et al., KDD 2022), a peer: layer l drops the tokens whose importance is
    below a learned threshold. Importance is the head-averaged attention a token receives from real
    queries, times the number of real tokens (1.0 = an average token), so thresholds carry over between
    lengths. The number kept varies per example; a batch keeps its largest count and masks the rest
    (each row computes exactly what it would alone). `keep_fractions` stays all 1.0 (an upper bound);
    build with `LTPConfig.from_thresholds`. A threshold of 0 leaves that layer alone.
    """

    method: str = "ltp"
    thresholds: tuple[float, ...] = ()

    @classmethod
    def from_thresholds(cls, thresholds) -> "LTPConfig":
        thresholds = tuple(float(t) for t in thresholds)
        return cls(keep_fractions=(1.0,) * len(thresholds), thresholds=thresholds)

    def validate(self) -> None:
        super().validate()
        object.__setattr__(self, "thresholds", tuple(self.thresholds))
        _check(len(self.thresholds) == self.num_layers, "thresholds", f"need one per layer ({self.num_layers})")
        _check(all(isinstance(t, (int, float)) and math.isfinite(t) and t >= 0 for t in self.thresholds), "thresholds",
               "every threshold must be a finite number >= 0")
        _check(all(f == 1.0 for f in self.keep_fractions or ()) and self.keep_counts is None, "keep_fractions",
               "LTP's counts come from its thresholds: use LTPConfig.from_thresholds")


@dataclass(frozen=True)
class SparseConfig(ReductionConfig):
    """Sparse attention patterns (Breaking BERT, reconstructed): each listed layer attends only along the
    pattern: neighbours within `width`, `n_random` random real keys per query, global [CLS], the
    `lexical_top` most similar tokens by cosine of the layer's input, and word pieces within `syntax_hops`
    edges of the dependency parse (the parse comes with each batch: syntax.py, `leanbert_syntax=`).
    No tokens are removed: `keep_fractions` stays all 1.0 (build with `SparseConfig.for_layers`).
    `layers`: the layer indices that use the pattern (e.g. range(l0, L) for "later layers only").
    `head_widths`: a neighbour width per patterned layer and head (what `leanbert learn-band` learns); it
    replaces `width` and always runs on the banded kernel (window of the widest head, each head masked to
    its own band).
    `kernel`: how a patterned layer runs; `auto` takes the banded kernel for neighbour (+ global) patterns
    when it computes at most half of the dense score matrix (banded.window_fraction), else masked dense SDPA.
    """

    method: str = "sparse"
    width: int = 0
    n_random: int = 0
    global_cls: bool = True
    lexical_top: int = 0
    syntax_hops: int = 0
    layers: tuple[int, ...] = ()
    head_widths: tuple[tuple[int, ...], ...] = ()  # learned degrees: per entry of `layers`, one width per head
    seed: int = 0
    kernel: str = "auto"  # banded (skips masked blocks; neighbour + global only), masked (dense SDPA + mask), auto

    @classmethod
    def for_layers(cls, num_layers: int, layers=None, **pattern) -> "SparseConfig":
        layers = tuple(range(num_layers)) if layers is None else tuple(layers)
        return cls(keep_fractions=(1.0,) * num_layers, layers=layers, **pattern)

    def validate(self) -> None:
        super().validate()
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "head_widths", tuple(tuple(w) for w in self.head_widths))
        if self.head_widths:
            _check(len(self.head_widths) == len(self.layers), "head_widths",
                   f"needs one tuple of per-head widths per patterned layer ({len(self.layers)}), got {len(self.head_widths)}")
            _check(all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for ws in self.head_widths for w in ws)
                   and all(ws for ws in self.head_widths), "head_widths", "every width must be an integer >= 0")
            _check(self.width == 0 and self.n_random == 0 and self.lexical_top == 0 and self.syntax_hops == 0,
                   "head_widths", "per-head widths are a pure neighbour (+ global) pattern: leave width, n_random, "
                   "lexical_top and syntax_hops at 0")
            _check(self.kernel != "masked", "kernel", "per-head widths run on the banded kernel (auto or banded)")
        for name in ("width", "n_random", "lexical_top", "syntax_hops", "seed"):
            value = getattr(self, name)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0, name, "must be an integer >= 0")
        _check(all(f == 1.0 for f in self.keep_fractions or ()) and self.keep_counts is None, "keep_fractions",
               "sparse attention removes no tokens: use SparseConfig.for_layers")
        _check(all(isinstance(l, int) and 0 <= l < self.num_layers for l in self.layers), "layers",
               f"every layer index must be in [0, {self.num_layers})")
        _check(self.width > 0 or self.n_random > 0 or self.global_cls or self.lexical_top > 0 or self.syntax_hops > 0
               or any(w > 0 for ws in self.head_widths for w in ws),
               "width", "the pattern allows nothing beyond the diagonal; set width, n_random, global_cls, lexical_top "
               "or syntax_hops")
        _check(self.kernel in ("auto", "banded", "masked"), "kernel", "must be auto, banded or masked")
        _check(self.kernel != "banded" or self.is_banded, "kernel",
               "the banded kernel runs neighbour (+ global [CLS]) patterns only: width > 0, n_random = lexical_top = "
               "syntax_hops = 0")

    @property
    def is_banded(self) -> bool:
        """A pure neighbour (+ global [CLS]) pattern: what banded.banded_attention computes."""
        neighbours = self.width > 0 or bool(self.head_widths)
        return neighbours and self.n_random == 0 and self.lexical_top == 0 and self.syntax_hops == 0

    def layer_width(self, index: int) -> int:
        """The band's reach in layer `index`: `width`, or the widest head's learned width."""
        return max(self.head_widths[self.layers.index(index)]) if self.head_widths else self.width


def uses_syntax(config) -> bool:
    """Whether running `config` needs each batch's dependency parse (syntax.attach)."""
    return isinstance(config, SparseConfig) and config.syntax_hops > 0


def _non_increasing(values) -> bool:
    return all(b <= a for a, b in zip(values, values[1:]))


CONFIG_CLASSES: dict[str, type[ReductionConfig]] = {"power": PowerConfig, "acc": ACCConfig, "fca": FCAConfig, "tome": TomeConfig,
                                                    "ltp": LTPConfig, "sparse": SparseConfig}


def config_from_dict(data: dict) -> ReductionConfig:
    """Rebuild a config from its JSON form, naming what is wrong if it cannot."""
    if not isinstance(data, dict):
        raise ConfigError(f"a leanbert config must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    version = data.pop("format_version", FORMAT_VERSION)
    _check(isinstance(version, int) and version <= FORMAT_VERSION, "format_version",
           f"written by a newer leanbert (format {version}, this one reads up to {FORMAT_VERSION}); upgrade leanbert")
    method = data.get("method")
    _check(method in CONFIG_CLASSES, "method", f"unknown method {method!r}, choose from {sorted(CONFIG_CLASSES)}")
    cls = CONFIG_CLASSES[method]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    _check(not unknown, unknown[0] if unknown else "", f"not a field of {cls.__name__}")
    return cls(**data)


def config_from_json(text: str) -> ReductionConfig:
    try:
        return config_from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise ConfigError(f"leanbert config is not valid JSON: {e.msg} at line {e.lineno}") from None
