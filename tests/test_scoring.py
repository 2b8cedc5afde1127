"""Pure scoring and selection functions: hand-made cases and property-based invariants."""
import torch
from hypothesis import given, settings, strategies as st

from leanbert.core import scoring


def test_attention_received_excludes_self_and_padded_queries():
    probs = torch.tensor([[[[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]]])  # (1, 1, 3, 3)
    key_mask = torch.tensor([[True, True, False]])
    s = scoring.attention_received(scoring.attention_stats(probs, key_mask), key_mask)
    torch.testing.assert_close(s[0, :2], torch.tensor([0.2, 0.5]))  # token 0 gets 0.2 from row 1; token 1 gets 0.5
    assert s[0, 2] == float("-inf")


def test_acc_score_is_a_share_summing_to_one_over_real_tokens():
    torch.manual_seed(0)
    probs = torch.rand(2, 4, 6, 6)
    key_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    probs = probs.masked_fill(~key_mask[:, None, None, :], 0)
    probs = probs / probs.sum(-1, keepdim=True)
    s = scoring.acc_score(scoring.attention_stats(probs, key_mask), key_mask)
    real_sum = torch.where(key_mask, s, torch.zeros_like(s)).sum(1)
    torch.testing.assert_close(real_sum, torch.ones(2))


def test_value_norm_score_hand_computed():
    probs = torch.tensor([[[[0.5, 0.5], [0.25, 0.75]]]])  # (1, 1, 2, 2)
    values = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]]]])  # (1, 1, 2, 2)
    w_o = torch.eye(2)  # output projection: identity
    mask = torch.tensor([[True, True]])
    s = scoring.value_norm_score(scoring.attention_stats(probs, mask), values, w_o, mask)
    # token 0 receives 0.75 in total, ||v0|| = 1; token 1 receives 1.25, ||v1|| = 2; divided by 2 queries
    torch.testing.assert_close(s, torch.tensor([[0.375, 1.25]]))


def test_gather_tokens_picks_rows():
    x = torch.arange(12.0).view(1, 4, 3)
    out = scoring.gather_tokens(x, torch.tensor([[0, 2]]))
    assert torch.equal(out, x[:, [0, 2]])


@st.composite
def scored_batches(draw):
    b = draw(st.integers(1, 4))
    n = draw(st.integers(1, 16))
    values = draw(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=b * n, max_size=b * n))
    lengths = draw(st.lists(st.integers(0, n), min_size=b, max_size=b))
    scores = torch.tensor(values, dtype=torch.float32).view(b, n)
    key_mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
    scores = scores.masked_fill(~key_mask, float("-inf"))
    k = draw(st.integers(1, n))
    return scores, key_mask, k


@settings(max_examples=200, deadline=None)
@given(scored_batches())
def test_selection_invariants(case):
    scores, key_mask, k = case
    idx = scoring.select_keep_indices(scores, k)
    assert idx.shape == (scores.shape[0], k)
    assert (idx[:, 0] == 0).all()  # [CLS] always kept
    assert (idx[:, 1:] > idx[:, :-1]).all()  # original order, no duplicates
    for row in range(scores.shape[0]):
        finite = torch.where(torch.isfinite(scores[row]) & key_mask[row])[0].tolist()
        eligible = set(finite) - {0}
        kept = set(idx[row].tolist()) - {0}
        # a pad (or NaN-scored token) is only kept once every finite-scored real token that fits is kept
        assert len(kept & eligible) == min(k - 1, len(eligible))
        # no dropped real token scores higher than a kept one (ties may go either way)
        dropped = eligible - kept
        if kept & eligible and dropped:
            assert min(scores[row, i] for i in kept & eligible) >= max(scores[row, i] for i in dropped)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3), st.integers(1, 10), st.integers(0, 10), st.integers(0, 2**31 - 1))
def test_scores_finite_for_real_tokens_and_never_nan(b, n, real, seed):
    g = torch.Generator().manual_seed(seed)
    key_mask = torch.arange(n)[None, :].expand(b, n) < min(real, n)
    logits = torch.randn(b, 2, n, n, generator=g).masked_fill(~key_mask[:, None, None, :], -1e30)
    probs = logits.softmax(-1)
    for fn in (scoring.attention_received, scoring.acc_score):
        s = fn(scoring.attention_stats(probs, key_mask), key_mask)
        assert not torch.isnan(s).any()
        assert torch.isfinite(s[key_mask]).all()
        assert (s[~key_mask] == float("-inf")).all()
