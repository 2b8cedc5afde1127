"""Keep-count schedules, the analytic speedup model, and solving a profile for a target speedup.

All keep counts are Python integers computed from the padded input length N_0 by integer arithmetic,
outside the tensors of `forward` (so shapes never depend on a `.item()` or on float rounding).
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import torch

from ..errors import ConfigError

FRACTION_DENOMINATOR = 10_000


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for a >= 0, b > 0. Written with non-negative operands only: exported graphs divide
    integers by truncation (ONNX Div), which agrees with Python's floor division only there."""
    return (a + b - 1) // b


@lru_cache(maxsize=4096)
def as_rational(f: float) -> tuple[int, int]:
    r = Fraction(f).limit_denominator(FRACTION_DENOMINATOR)
    return r.numerator, r.denominator


def keep_counts(n0, counts=None, fractions=None, min_tokens: int = 1, rationals=None) -> list:
    """Tokens kept after each layer for an input of padded length n0; non-increasing, each <= n0.

    Fractions become exact rationals (num, den); pass `rationals` precomputed to keep `forward` to
    integer arithmetic only. A count larger than the sequence keeps every token at that layer (no
    error: a schedule written for 128 tokens must also run on a 20-token batch).

    Guard-free in n0: the running minimum over layers is taken on the constants (ceil(n0 * x) and the
    clamps are monotone in x, so this equals the minimum of the counts), and the clamps use
    torch.sym_min/sym_max, so an exported graph (symbolic n0) computes the counts for any length instead
    of freezing the example's.
    """
    if counts is not None:
        targets = running_min(counts)
    else:
        targets = [ceil_div(n0 * num, den) for num, den in
                   (rationals if rationals is not None else monotone_rationals(tuple(fractions)))]
        targets = [torch.sym_max(min_tokens, t) for t in targets]  # a tiny fraction can round to 0 tokens
    out, prev = [], n0
    for t in targets:
        prev = torch.sym_min(prev, t)  # a no-op on the values; makes "count <= previous count" provable
        out.append(prev)
    return out


def monotone_rationals(fractions: tuple[float, ...]) -> tuple[tuple[int, int], ...]:
    """Each fraction as an exact (num, den), with the running minimum over layers already taken."""
    exact = running_min([Fraction(*as_rational(f)) for f in fractions])
    return tuple((r.numerator, r.denominator) for r in exact)


def running_min(values) -> list:
    out, prev = [], None
    for v in values:
        prev = v if prev is None else min(prev, v)
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
