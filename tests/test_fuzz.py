"""Fuzzing with hypothesis: random configs, random batches, hostile numbers. Invariants: a valid config runs
and gives finite outputs of the right shape; an invalid one raises ConfigError (never another exception)."""
import math

import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import leanbert
from conftest import tiny_model
from leanbert.core import merging, scoring
from leanbert.engine.config import config_from_dict
from leanbert.errors import ConfigError

LAYERS = 3
MODEL = tiny_model(layers=LAYERS)
HOSTILE = st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -1.0, 1e30, -1e30, 1e-30])
NUMBERS = st.one_of(st.integers(-3, 70), st.floats(allow_nan=True, allow_infinity=True), HOSTILE, st.booleans(), st.none(),
                    st.text(max_size=3))


@st.composite
def raw_configs(draw):
    """A dict as a config file might hold it: sometimes valid, often not."""
    method = draw(st.sampled_from(["power", "acc", "fca", "tome", "bogus", None]))
    data = {"method": method}
    if draw(st.booleans()):  # well-formed half the time, so the run-and-check-outputs branch is exercised
        data.update(draw(st.one_of(
            st.lists(st.floats(1e-6, 1.0), min_size=LAYERS, max_size=LAYERS).map(
                lambda f: {"keep_fractions": sorted(f, reverse=True)}),
            st.lists(st.integers(1, 30), min_size=LAYERS, max_size=LAYERS).map(
                lambda c: {"keep_counts": sorted(c, reverse=True)}))))
        if method == "fca":
            data.update(coarse=draw(st.integers(0, 4)), merge=draw(st.sampled_from(["mean", "weighted"])))
        return data
    profile = draw(st.lists(NUMBERS, min_size=0, max_size=LAYERS + 1))
    if draw(st.booleans()):
        data["keep_counts"] = profile
    if draw(st.booleans()) or "keep_counts" not in data:
        data["keep_fractions"] = draw(st.one_of(st.just(profile), st.lists(st.floats(0, 1.2), min_size=LAYERS, max_size=LAYERS)))
    if draw(st.booleans()):
        data["min_tokens"] = draw(NUMBERS)
    if method == "fca" and draw(st.booleans()):
        data.update(coarse=draw(st.integers(-1, 7)), merge=draw(st.sampled_from(["mean", "weighted", "max"])))
    return data


@st.composite
def batches(draw):
    b, n = draw(st.integers(1, 4)), draw(st.integers(1, 24))
    lengths = draw(st.lists(st.integers(0, n), min_size=b, max_size=b))
    ids = torch.randint(5, 64, (b, n), generator=torch.Generator().manual_seed(draw(st.integers(0, 1000))))
    mask = (torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]).long()
    mask[:, 0] = 1  # [CLS] is always a real token; rows are otherwise anything from 1 token to full
    ids[:, 0] = 2
    return ids, mask


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_configs(), batches())
def test_random_configs_either_run_finite_or_fail_naming_a_field(raw, batch):
    try:
        config = config_from_dict(raw)
        leanbert.apply(MODEL, config)
    except ConfigError as e:
        assert "'" in str(e)  # the message names the field in quotes
        return
    ids, mask = batch
    try:
        with torch.no_grad():
            logits = MODEL(input_ids=ids, attention_mask=mask).logits
    finally:
        leanbert.remove(MODEL)
    assert logits.shape == (ids.shape[0], 2) and torch.isfinite(logits).all()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3), st.integers(2, 12), st.integers(1, 5), st.lists(HOSTILE, min_size=1, max_size=4), st.data())
def test_hostile_scores_never_make_nan_or_keep_pads_over_real_tokens(b, n, k, bad, data):
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 1000)))
    key_mask = torch.rand(b, n, generator=g) > 0.3
    key_mask[:, 0] = True
    scores = torch.randn(b, n, generator=g)
    for value in bad:  # plant NaN / inf / huge values at random real or padded positions
        scores[data.draw(st.integers(0, b - 1)), data.draw(st.integers(0, n - 1))] = value
    n_keep = data.draw(st.integers(1, n))
    keep = scoring.select_keep_indices(scores, n_keep, key_mask=key_mask)
    kept_real = key_mask.gather(1, keep).sum(1)
    assert (kept_real == torch.minimum(key_mask.sum(1), torch.tensor(n_keep))).all()
    hidden = torch.randn(b, n, 4, generator=g)
    for mode in ("mean", "weighted"):
        coarse, coarse_mask = merging.merge_coarse(hidden, key_mask, keep, scores, k, mode)
        assert torch.isfinite(coarse).all() and coarse.shape == (b, k, 4)


@settings(max_examples=100, deadline=None)
@given(st.one_of(NUMBERS, st.lists(NUMBERS, max_size=3), st.dictionaries(st.text(max_size=8), NUMBERS, max_size=4)))
def test_config_loader_rejects_garbage_with_config_error(garbage):
    try:
        config_from_dict(garbage)
    except ConfigError:
        return
    assert isinstance(garbage, dict) and math.isfinite(len(garbage))  # only a dict could ever load
