"""Sparse attention patterns on hand-made inputs: shapes, diagonal, padding, sparsity, determinism."""
import torch

from leanbert.core import patterns


def test_neighbour_band_by_hand():
    m = patterns.neighbour(4, 1)
    assert m.int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]]


def test_global_rows_and_columns():
    m = patterns.global_tokens(4, [0])
    assert m[0].all() and m[:, 0].all() and not m[1, 2] and not m[2, 3]


def test_finalize_adds_diagonal_and_forbids_pads_and_sparsity_counts_real_tokens_only():
    key_mask = torch.tensor([[True, True, True, False]])
    m = patterns.finalize(torch.zeros(1, 4, 4, dtype=torch.bool), key_mask)
    assert m[0, :3, :3].equal(torch.eye(3, dtype=torch.bool)) and not m[0, :, 3].any()
    assert abs(patterns.sparsity(m, key_mask).item() - (1 - 3 / 9)) < 1e-6


def test_random_keys_seeded_real_only_exact_count():
    key_mask = torch.tensor([[True] * 6 + [False] * 2])
    a = patterns.random_keys(key_mask, 2, seed=3)
    b = patterns.random_keys(key_mask, 2, seed=3)
    c = patterns.random_keys(key_mask, 2, seed=4)
    assert a.equal(b) and not a.equal(c)
    assert (a.sum(-1) == 2).all() and not a[..., 6:].any()


def test_lexical():
    emb = torch.tensor([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]])
    m = patterns.lexical(emb, torch.ones(1, 3, dtype=torch.bool), 2)
    assert m[0, 0].tolist() == [True, True, False] and m[0, 2, 2]


def test_bigbird_components_and_high_sparsity_at_512():
    key_mask = torch.ones(1, 512, dtype=torch.bool)
    m = patterns.bigbird(key_mask, width=3, n_random=3, global_positions=(0,), seed=0)
    s = patterns.sparsity(m, key_mask).item()
    assert 0.97 < s < 0.99  # ~7 band + 3 random + 1 global per row, plus the global row
    no_neighbour = patterns.bigbird(key_mask, width=0, n_random=3, global_positions=(0,), seed=0)
    assert patterns.sparsity(no_neighbour, key_mask).item() > s
