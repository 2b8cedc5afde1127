"""Keep-count profiles, the speedup model and solving for a target."""
import pytest
from hypothesis import given, settings, strategies as st

from leanbert.core import schedule
from leanbert.errors import ConfigError

MINILM = dict(num_layers=6, hidden=384, ffn=1536)


def test_layer_flops_formula_by_hand():
    # n=2, d=3, ffn=4: 8*2*9 + 4*4*3 + 4*2*3*4 = 144 + 48 + 96
    assert schedule.layer_flops(2, 2, 3, 4) == 288


def test_keep_counts_from_fractions_use_integer_ceil_and_floor_at_min_tokens():
    assert schedule.keep_counts(10, fractions=(0.55, 0.3, 0.01), min_tokens=2) == [6, 3, 2]
    assert schedule.keep_counts(10, counts=(12, 7, 9)) == [10, 7, 7]  # clipped to n0, made non-increasing


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 512), st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=12), st.integers(1, 8))
def test_profiles_are_monotone_integers_within_bounds(n0, fractions, min_tokens):
    fractions = sorted(fractions, reverse=True)
    counts = schedule.keep_counts(n0, fractions=fractions, min_tokens=min_tokens)
    assert all(isinstance(c, int) for c in counts)
    assert all(b <= a for a, b in zip([n0] + counts, counts))
    assert all(min(n0, min_tokens) <= c <= n0 for c in counts)


@pytest.mark.parametrize("target", [1.0, 1.5, 2.0, 3.0, 4.0, 5.0])
def test_solved_profile_reaches_target_at_n0(target):
    fr = schedule.solve_fractions(target, MINILM["num_layers"], 128, MINILM["hidden"], MINILM["ffn"])
    counts = schedule.keep_counts(128, fractions=fr)
    achieved = schedule.predicted_speedup(counts, 128, MINILM["hidden"], MINILM["ffn"])
    assert achieved >= target - 1e-9
    assert achieved <= target * 1.1  # integer rounding keeps it close
    assert all(b <= a for a, b in zip(fr, fr[1:]))


def test_dense_plan_predicts_exactly_one():
    assert schedule.predicted_speedup([128] * 6, 128, 384, 1536) == 1.0


@pytest.mark.parametrize("bad", [0.5, 0.0, -2.0, float("nan")])
def test_target_below_one_is_rejected_naming_the_field(bad):
    with pytest.raises(ConfigError, match="speedup"):
        schedule.solve_fractions(bad, 6, 128, 384, 1536)


def test_target_beyond_model_limit_is_rejected():
    limit = schedule.max_speedup(6, 128, 384, 1536)
    with pytest.raises(ConfigError, match="beyond"):
        schedule.solve_fractions(limit * 1.01, 6, 128, 384, 1536)
    schedule.solve_fractions(limit, 6, 128, 384, 1536)  # the limit itself is reachable
