"""Keep-count schedules, the analytic speedup model, and solving a profile for a target speedup.

All keep counts are Python integers computed from the padded input length N_0 by integer arithmetic,
outside the tensors of `forward` (so shapes never depend on a `.item()` or on float rounding).
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from .errors import ConfigError

FRACTION_DENOMINATOR = 10_000


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=4096)
def as_rational(f: float) -> tuple[int, int]:
    r = Fraction(f).limit_denominator(FRACTION_DENOMINATOR)
    return r.numerator, r.denominator


def keep_counts(n0: int, counts=None, fractions=None, min_tokens: int = 1, rationals=None) -> list[int]:
    """Tokens kept after each layer for an input of padded length n0; non-increasing, each <= n0.

    Fractions become exact rationals (num, den); pass `rationals` precomputed to keep `forward` to
    integer arithmetic only. A count larger than the sequence keeps every token at that layer (no
    error: a schedule written for 128 tokens must also run on a 20-token batch).
    """
    if counts is not None:
        raw = [min(c, n0) for c in counts]
    else:
        rationals = rationals if rationals is not None else [as_rational(f) for f in fractions]
        raw = [min(n0, max(min_tokens, ceil_div(n0 * num, den))) for num, den in rationals]
    out, prev = [], n0
    for c in raw:
        prev = min(prev, c)
        out.append(prev)
    return out


def layer_flops(n_in: int, n_out: int, hidden: int, ffn: int) -> int:
    """FLOPs of one encoder layer (2 per multiply-add): QKV+output projections and the two attention
    matmuls on n_in tokens, the feed-forward block on n_out tokens (DESIGN 1.3)."""
    return 8 * n_in * hidden * hidden + 4 * n_in * n_in * hidden + 4 * n_out * hidden * ffn


def predicted_speedup(counts: list[int], n0: int, hidden: int, ffn: int) -> float:
    dense = len(counts) * layer_flops(n0, n0, hidden, ffn)
    ins = [n0] + counts[:-1]
    reduced = sum(layer_flops(i, o, hidden, ffn) for i, o in zip(ins, counts))
    return dense / reduced


def geometric_fractions(alpha: float, num_layers: int, start_layer: int = 0) -> tuple[float, ...]:
    """Elimination profile rho_l: 1 before `start_layer`, alpha**(l - start_layer + 1) from it on.

    Rounded to 6 digits and floored at 1e-6 so the profile is exactly what a saved config holds."""
    return tuple(1.0 if l < start_layer else max(1e-6, round(alpha ** (l - start_layer + 1), 6))
                 for l in range(num_layers))


def max_speedup(num_layers: int, n0: int, hidden: int, ffn: int, min_tokens: int = 1, start_layer: int = 0) -> float:
    counts = keep_counts(n0, fractions=geometric_fractions(0.0, num_layers, start_layer), min_tokens=min_tokens)
    return predicted_speedup(counts, n0, hidden, ffn)


def solve_fractions(target: float, num_layers: int, n0: int, hidden: int, ffn: int,
                    min_tokens: int = 1, start_layer: int = 0, iters: int = 60) -> tuple[float, ...]:
    """The geometric profile whose predicted speedup at length n0 is closest to `target` from above
    (bisection on alpha; speedup falls monotonically as alpha grows)."""
    if not target >= 1.0:
        raise ConfigError(f"invalid config field 'speedup': target must be >= 1, got {target}")
    if target == 1.0:
        return tuple(1.0 for _ in range(num_layers))
    limit = max_speedup(num_layers, n0, hidden, ffn, min_tokens, start_layer)
    if target > limit:
        raise ConfigError(f"invalid config field 'speedup': {target} is beyond what this model allows at "
                          f"{n0} tokens ({limit:.2f}x with min_tokens={min_tokens})")
    lo, hi = 0.0, 1.0  # speedup(lo) >= target > speedup(hi) while searching
    for _ in range(iters):
        mid = (lo + hi) / 2
        counts = keep_counts(n0, fractions=geometric_fractions(mid, num_layers, start_layer), min_tokens=min_tokens)
        if predicted_speedup(counts, n0, hidden, ffn) >= target:
            lo = mid
        else:
            hi = mid
    return geometric_fractions(lo, num_layers, start_layer)
