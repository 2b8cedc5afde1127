"""What the method folders share: the options a config is built from (`leanbert evaluate/bench/export`), and the
one way a profile is solved for a target speedup."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import backbones
from ..core.schedule import solve_fractions
from ..errors import ConfigError


@dataclass(frozen=True)
class ConfigRequest:
    """A method's configs are built from these: the command's options and the model they run on."""

    method: str
    speedups: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    hf_config: object = None
    n0: int = 128  # the length profiles are solved at
    score: str = "acc"
    pattern: dict = field(default_factory=dict)  # the sparse options (width, n_random, ..., from_layers)
    profiles: str = "searched"  # an elastic checkpoint's searched profiles, or geometric ones

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """(hidden, ffn, layers, heads) of the model."""
        return backbones.dims(self.hf_config)


def profiled(request: ConfigRequest, make) -> list:
    """One geometric profile per target speedup, solved at the task's length: [(target, make(fractions))], each
    with the sparse pattern the options compose with it (if any)."""
    from .sparse.options import composed_pattern  # the one pattern kind a reduction composes with

    if not request.speedups:
        raise ConfigError(f"invalid config field 'speedup': --method {request.method} needs --speedup, e.g. 1,2,3")
    hidden, ffn, layers, _ = request.dims
    composed = composed_pattern(request.pattern, layers)
    return [(s, make(solve_fractions(s, layers, request.n0, hidden, ffn)).replace(pattern=composed))
            for s in request.speedups]
