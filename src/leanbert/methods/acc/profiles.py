"""Per-layer keep profiles for a FLOPs budget, and the table of searched profiles a checkpoint carries.

Pure functions (no model). A profile is a tuple of keep fractions, one per layer, non-increasing. It is
described here by a *shape*: non-negative per-layer weights w_l, turned into fractions
f_l = exp(-c * (w_1 + ... + w_l)). The scale c sets the budget and the shape says where the tokens go:
all-equal weights are ACC's geometric profile, zeros at the start keep the early layers whole. For a
target speedup the scale is found by bisection, so every profile hits its budget (to integer rounding of
the keep counts) whatever its shape: the search compares shapes at exactly the same cost.

Cost is the analytic FLOPs (flops.encoder_flops, what every result row counts) averaged over a histogram of
real input lengths, each example at its own length: the budget means "s x fewer FLOPs on inputs like these".
"""
from __future__ import annotations

import math
import random
from collections import Counter

from ...engine.config import ReductionConfig, config_from_dict
from ..fca.config import FCAConfig
from .config import ACCConfig
from ...errors import ConfigError
from ...measure.flops import encoder_flops

PROFILES_KEY = "leanbert_profiles"  # model.config key: the searched table, saved with the checkpoint
MAX_SCALE = 64.0  # exp(-64) keeps min_tokens everywhere: beyond any budget


def fractions_of(shape, scale: float) -> tuple[float, ...]:
    """Keep fractions for a shape at a scale: exp(-scale * cumulative weight), rounded as configs store them."""
    out, total = [], 0.0
    for w in shape:
        total += max(0.0, w)
        out.append(max(1e-6, round(math.exp(-scale * total), 6)))
    return tuple(out)


def length_histogram(lengths) -> tuple[tuple[int, int], ...]:
    """(length, count) pairs: the cost of a profile is a weighted sum over distinct lengths."""
    return tuple(sorted(Counter(int(n) for n in lengths).items()))


def coarse_histogram(lengths, bins: int = 24) -> tuple[tuple[int, int], ...]:
    """At most `bins` distinct lengths: each example's length replaced by the median of its quantile bin
    (keeps the per-step cost of sampling training profiles small; the search uses the exact histogram)."""
    ordered = sorted(int(n) for n in lengths)
    if not ordered:
        raise ConfigError("no input lengths to measure a profile's cost on")
    size = max(1, -(-len(ordered) // bins))
    groups = [ordered[i:i + size] for i in range(0, len(ordered), size)]
    return length_histogram([g[len(g) // 2] for g in groups for _ in g])


def flops_ratio(config: ReductionConfig | None, histogram, dims) -> float:
    """Dense FLOPs / the config's FLOPs over the length histogram; dims = (hidden, ffn, layers, heads)."""
    from ...engine.registry import build_method

    hidden, ffn, layers, heads = dims
    method = None if config is None else build_method(config)
    dense = sum(c * encoder_flops(n, hidden, ffn, layers, None, heads) for n, c in histogram)
    reduced = sum(c * encoder_flops(n, hidden, ffn, layers, method, heads) for n, c in histogram)
    return dense / reduced


def make_config(fractions, coarse: int = 0, score: str = "acc") -> ReductionConfig:
    """ACC drops what it does not keep; with coarse > 0, FCA merges it into coarse tokens."""
    if coarse:
        return FCAConfig(keep_fractions=fractions, coarse=coarse, merge="weighted")
    return ACCConfig(keep_fractions=fractions, score=score)


def project(shape, target: float, histogram, dims, coarse: int = 0, score: str = "acc", iters: int = 40):
    """The config of this shape whose FLOPs ratio is the smallest at or above `target` (None if the shape
    cannot reach it). Bisection on the scale: the ratio grows with it."""
    def ratio(scale):
        return flops_ratio(make_config(fractions_of(shape, scale), coarse, score), histogram, dims)

    if target <= 1.0:
        return make_config((1.0,) * len(shape), 0, score)
    if ratio(MAX_SCALE) < target:
        return None
    lo, hi = 0.0, MAX_SCALE  # ratio(lo) < target <= ratio(hi)
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ratio(mid) >= target else (mid, hi)
    return make_config(fractions_of(shape, hi), coarse, score)


def random_shape(num_layers: int, rng: random.Random) -> tuple[float, ...]:
    """Independent U(0, 1) weights: any mix of early and late dropping."""
    return tuple(rng.random() for _ in range(num_layers))


def seed_shapes(num_layers: int) -> list[tuple[float, ...]]:
    """Shapes every search starts from: geometric, front-loaded, back-loaded, and 'keep layer 0 whole'."""
    flat = tuple(1.0 for _ in range(num_layers))
    front = tuple(float(num_layers - i) for i in range(num_layers))
    back = tuple(float(i + 1) for i in range(num_layers))
    late = (0.0,) + flat[1:]
    return [flat, front, back, late]


def mutate(shape, rng: random.Random, sigma: float = 0.5) -> tuple[float, ...]:
    """Each weight multiplied by a log-normal factor; sometimes one weight set to zero or one."""
    out = [w * math.exp(rng.gauss(0.0, sigma)) for w in shape]
    if rng.random() < 0.3:
        out[rng.randrange(len(out))] = rng.choice([0.0, 1.0])
    return tuple(out)


def crossover(a, b, rng: random.Random) -> tuple[float, ...]:
    return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b))


# --- the table a checkpoint carries ---------------------------------------------------------------------------

def save_table(hf_config, entries: list[dict]) -> None:
    """entries: [{"speedup": s, "config": config dict, ...}], sorted by speedup; stored in model.config."""
    setattr(hf_config, PROFILES_KEY, sorted(entries, key=lambda e: e["speedup"]))


def saved_table(model_or_config) -> list[dict]:
    """The searched profiles of a model (or its Hugging Face config), [] if it has none."""
    hf_config = getattr(model_or_config, "config", model_or_config)
    return list(getattr(hf_config, PROFILES_KEY, None) or [])


def profile_for(model_or_config, speedup: float) -> ReductionConfig:
    """The searched profile to run for a target speedup: the saved budget equal to it, else the next faster
    one (never slower than asked). Errors name the saved range. Use as
    `model(**batch, leanbert_config=leanbert.profile_for(model, 3))`."""
    table = saved_table(model_or_config)
    if not table:
        raise ConfigError("invalid config field 'speedup': this checkpoint has no searched profiles "
                          "(train it with `leanbert elastic`)")
    if not (isinstance(speedup, (int, float)) and math.isfinite(speedup) and speedup >= 1.0):
        raise ConfigError(f"invalid config field 'speedup': need a number >= 1, got {speedup!r}")
    if speedup == 1.0:  # the full-length model: every token kept
        return make_config((1.0,) * len(table[0]["config"]["keep_fractions"]))
    for entry in table:
        if entry["speedup"] >= speedup - 1e-9:
            return config_from_dict(entry["config"])
    raise ConfigError(f"invalid config field 'speedup': {speedup} is beyond the searched profiles "
                      f"(up to {table[-1]['speedup']}x)")
