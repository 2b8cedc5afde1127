"""The configs a command runs, from its options: `--method` names a registered method (its folder builds the
configs from the options), `dense` (no config) or `saved` (the checkpoint's own)."""
from __future__ import annotations

from ..engine import registry
from ..errors import ConfigError
from ..methods.common import ConfigRequest

DENSE, SAVED = "dense", "saved"  # the two choices of --method that are no registered method
PROFILES = ("searched", "geometric")


def check_options_used(method: str, speedups, counts) -> None:
    """Options a method would silently ignore are refused: a row must be what its options say."""
    if speedups and not registry.has(method, "profiled"):
        takers = [name for name, spec in sorted(registry.specs().items()) if spec.profiled]
        raise ConfigError(f"invalid config field 'speedup': --method {method} takes no --speedup "
                          f"({', '.join(takers)} do)")
    if counts and not registry.has(method, "takes_counts"):
        takers = [name for name, spec in sorted(registry.specs().items()) if spec.takes_counts]
        raise ConfigError(f"invalid config field 'keep_counts': --method {method} takes no --keep-counts "
                          f"({', '.join(takers)} does)")
    if counts and speedups:
        raise ConfigError("invalid config field 'keep_counts': give --keep-counts or --speedup, not both")


def request_for(method: str, speedups, counts, hf_config, n0: int, score: str = "acc", pattern: dict | None = None,
                profiles: str = "searched") -> ConfigRequest:
    """The options as one request, checked."""
    check_options_used(method, speedups, counts)
    if profiles not in PROFILES:
        raise ConfigError(f"invalid config field 'profiles': {profiles!r}, use searched or geometric")
    return ConfigRequest(method, tuple(speedups), tuple(counts), hf_config, n0, score, dict(pattern or {}), profiles)


def configs_for(method: str, speedups: list[float], counts: list[int], hf_config, n0: int, score: str = "acc",
                pattern: dict | None = None, profiles: str = "searched") -> list:
    """[(target speedup or None, config)]. An elastic checkpoint's `acc` targets take its searched profiles
    (methods/acc/profiles.py) unless `profiles` is "geometric"."""
    request = request_for(method, speedups, counts, hf_config, n0, score, pattern, profiles)
    if method == DENSE:
        return [(1.0, None)]
    spec = registry.specs().get(method)
    if spec is None or spec.configs is None:
        built = [name for name, s in sorted(registry.specs().items()) if s.configs is not None]
        raise ConfigError(f"invalid config field 'method': unknown method {method!r} "
                          f"({', '.join([DENSE, *built, SAVED])})")
    return spec.configs(request)


def searched(method: str, profiles: str, hf_config) -> bool:
    """Whether `--method` takes the checkpoint's searched profiles (its rows' variant is "elastic")."""
    spec = registry.specs().get(method)
    return bool(spec and spec.searched and spec.searched(ConfigRequest(method, hf_config=hf_config, profiles=profiles)))


def label(cfg) -> str:
    """A row's default variant: the method plus what distinguishes its config, and its composed pattern."""
    if cfg is None:
        return DENSE
    name = registry.spec_of(cfg).label(cfg)
    return name + ("+" + label(cfg.pattern) if cfg.pattern is not None else "")
