"""FCA coarse tokens: arithmetic by hand, chunking, padding, empty cases, gradients, save/load."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

import leanbert
from leanbert.core import merging
from conftest import make_batch, tiny_model


def test_chunking_is_contiguous_in_original_order():
    members = torch.tensor([[False, True, True, False, True, True, True]])  # U = positions 1,2,4,5,6
    assign = merging.chunk_assignment(members, 2)
    # 5 members into 2 chunks: order*2//5 -> positions 1,2,4 in chunk 0; 5,6 in chunk 1
    assert assign[0, :, 0].nonzero().flatten().tolist() == [1, 2, 4]
    assert assign[0, :, 1].nonzero().flatten().tolist() == [5, 6]


def test_mean_and_weighted_merge_by_hand():
    hidden = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]])  # (1, 4, 2)
    key_mask = torch.tensor([[True, True, True, False]])  # last is a pad with big values
    keep = torch.tensor([[0]])
    scores = torch.tensor([[9.0, 0.0, math.log(3.0), float("-inf")]])
    mean, mask = merging.merge_coarse(hidden, key_mask, keep, scores, 1, "mean")
    torch.testing.assert_close(mean, torch.tensor([[[0.5, 1.0]]]))  # pad excluded
    assert mask.tolist() == [[True]]
    weighted, _ = merging.merge_coarse(hidden, key_mask, keep, scores, 1, "weighted")
    # softmax over U of scores (0, log 3) = (1/4, 3/4)
    torch.testing.assert_close(weighted, torch.tensor([[[0.25, 1.5]]]))
    ref, _ = merging.merge_coarse(hidden, key_mask, keep, scores, 1, "weighted", divide_by_count=True)
    torch.testing.assert_close(ref, weighted / 2)


def test_empty_u_and_empty_chunks_are_masked_zeros_not_nan():
    hidden = torch.randn(2, 5, 3)
    key_mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    keep = torch.tensor([[0, 1, 2], [0, 1, 2]])  # row 0: every real token kept -> U empty
    scores = torch.randn(2, 5)
    for mode in ("mean", "weighted"):
        coarse, mask = merging.merge_coarse(hidden, key_mask, keep, scores, 5, mode)
        assert torch.isfinite(coarse).all()
        assert mask[0].tolist() == [False] * 5
        assert mask[1].sum() == 2  # two members for five chunks: three chunks empty
        assert (coarse[0] == 0).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3), st.integers(2, 12), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_merge_weights_are_convex_per_nonempty_chunk(b, n, k, seed):
    g = torch.Generator().manual_seed(seed)
    key_mask = torch.rand(b, n, generator=g) > 0.3
    key_mask[:, 0] = True
    scores = torch.randn(b, n, generator=g) * 50
    keep = torch.zeros(b, 1, dtype=torch.long)
    members = merging.unselected_real(key_mask, keep)
    assign = merging.chunk_assignment(members, k)
    assert (assign.sum(-1) == members.long()).all()  # every member in exactly one chunk, pads in none
    for mode in ("mean", "weighted"):
        w = merging.merge_weights(assign, scores, mode)
        sums = w.sum(1)  # (B, k)
        nonempty = assign.any(1)
        torch.testing.assert_close(sums[nonempty], torch.ones_like(sums[nonempty]))
        assert (sums[~nonempty] == 0).all() and (w >= 0).all() and torch.isfinite(w).all()


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_fca_sequence_is_fine_plus_coarse_and_coarse_tokens_are_rescored(impl):
    model = leanbert.apply(tiny_model(impl), leanbert.FCAConfig(keep_counts=(6, 6, 3), coarse=2))
    ids, mask = make_batch(3, 12)
    seen = []
    for l in model.bert.encoder.layer:
        l.intermediate.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
    out = model(input_ids=ids, attention_mask=mask).logits
    # layer 0: 6 fine + 2 coarse; layer 1: 8 tokens, 6+2 means nothing to merge; layer 2: 3 fine + 2 coarse
    assert seen == [8, 8, 5]
    assert torch.isfinite(out).all()


def test_gradient_flows_through_coarse_tokens():
    model = leanbert.apply(tiny_model(), leanbert.FCAConfig(keep_counts=(3, 3, 3), coarse=1, merge="weighted"))
    model.train()
    embeddings = model.bert.embeddings.word_embeddings.weight
    ids, mask = make_batch(1, 10, padded=False)
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([1])).loss.backward()
    # tokens 1..9 compete for 2 fine slots at layer 0; the others only reach the output through the coarse token
    touched = (embeddings.grad[ids[0]].abs().sum(-1) > 0).sum().item()
    assert touched == 10


def test_fca_with_nothing_removed_equals_dense_and_save_load(tmp_path):
    model = tiny_model()
    ids, mask = make_batch(2, 12)
    dense = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.FCAConfig(keep_counts=(12, 12, 12), coarse=1))
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, dense)
    cfg = leanbert.FCAConfig(keep_counts=(7, 5, 3), coarse=5, merge="mean", divide_by_count=True)
    leanbert.apply(model, cfg)
    reduced = model(input_ids=ids, attention_mask=mask).logits
    model.save_pretrained(tmp_path)
    loaded = leanbert.from_pretrained(tmp_path)
    assert leanbert.current_config(loaded) == cfg
    torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits, reduced)


def test_invalid_fca_configs_name_the_field():
    with pytest.raises(leanbert.ConfigError, match="'coarse'"):
        leanbert.FCAConfig(keep_counts=(3,), coarse=-1)
    with pytest.raises(leanbert.ConfigError, match="'merge'"):
        leanbert.FCAConfig(keep_counts=(3,), merge="kmeans")
