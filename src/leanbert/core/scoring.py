"""Token importance from attention, and top-k selection. Pure functions on tensors.

Shapes: B batch, H heads, N tokens, D hidden, Dh head size. `key_mask` is (B, N) bool, True for real tokens.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

NEG_INF = float("-inf")


class AttentionStats(NamedTuple):
    """What every attention-based score needs from a layer's probabilities, without keeping the (B, H, N, N)
    matrix: patch.attention_with_stats accumulates these over query chunks."""

    received: torch.Tensor  # (B, H, N): attention each key receives, summed over real queries (self included)
    self_attention: torch.Tensor  # (B, H, N): each token's attention to itself as a query; 0 for padded queries


def attention_stats(probs: torch.Tensor, key_mask: torch.Tensor) -> AttentionStats:
    """Reference computation from full probabilities (B, H, N, N); padded query rows do not count."""
    a = probs * key_mask[:, None, :, None].to(probs.dtype)  # (B, H, N, N), padded queries zeroed
    return AttentionStats(a.sum(dim=2), torch.diagonal(a, dim1=2, dim2=3))


def _real_query_count(key_mask: torch.Tensor, dtype) -> torch.Tensor:
    return key_mask.sum(dim=1, keepdim=True).clamp(min=1).to(dtype)  # (B, 1)


def attention_received(stats: AttentionStats, key_mask: torch.Tensor) -> torch.Tensor:
    """PoWER-BERT significance: head-averaged attention token j receives from real queries i != j. (B, N); pads -inf."""
    received = (stats.received - stats.self_attention).mean(dim=1)  # (B, N)
    return received.masked_fill(~key_mask, NEG_INF)


def acc_score(stats: AttentionStats, key_mask: torch.Tensor) -> torch.Tensor:
    """Attention Context Contribution: share of the layer's attention context that token j supplies.

    Head-averaged attention received from real queries (self included), divided by the number of
    real queries, so the real tokens' scores of a row sum to 1. (B, N); pads -inf.
    """
    share = stats.received.mean(dim=1) / _real_query_count(key_mask, stats.received.dtype)
    return share.masked_fill(~key_mask, NEG_INF)


def normalised_importance(stats: AttentionStats, key_mask: torch.Tensor) -> torch.Tensor:
    """LTP's importance: the ACC share times the number of real tokens, so 1.0 is an average token at any
    length. (B, N); pads -inf."""
    return acc_score(stats, key_mask) * _real_query_count(key_mask, stats.received.dtype)


def value_norm_score(stats: AttentionStats, values: torch.Tensor, out_weight: torch.Tensor,
                     key_mask: torch.Tensor) -> torch.Tensor:
    """Norm-based contribution: mean over heads and real queries of a_ij * ||v_j W_O^h||.

    values: (B, H, N, Dh); out_weight: the output projection's weight (D, H*Dh) as nn.Linear stores it.
    """
    b, h, n, dh = values.shape
    w_o = out_weight.view(out_weight.shape[0], h, dh)  # (D, H, Dh)
    norms = torch.einsum("bhnk,dhk->bhnd", values, w_o).norm(dim=-1)  # (B, H, N)
    weighted = stats.received * norms  # (B, H, N): attention received per head times value norm
    return (weighted.mean(dim=1) / _real_query_count(key_mask, values.dtype)).masked_fill(~key_mask, NEG_INF)


def select_keep_indices(scores: torch.Tensor, n_keep: int, protected: int = 1,
                        key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Indices of the tokens to keep, (B, n_keep), in original order.

    The first `protected` positions ([CLS]) are always kept; the rest are the top scores. Padding
    scores -inf, so a pad is only kept when a row has fewer real tokens than `n_keep`.
    With `key_mask` given, a real token whose score is NaN or +-inf still ranks as a (lowest or highest)
    real token, strictly above every pad; without it, NaN is treated as -inf.
    """
    if not isinstance(n_keep, torch.SymInt) and not 1 <= n_keep <= scores.shape[1]:  # symbolic: the plan bounds it
        raise ValueError(f"n_keep must be in [1, {scores.shape[1]}], got {n_keep}")
    if key_mask is None:
        ranked = torch.nan_to_num(scores, nan=NEG_INF).clone()  # (B, N)
    else:
        big = torch.finfo(scores.dtype).max
        ranked = torch.nan_to_num(scores, nan=-big, posinf=big, neginf=-big).masked_fill(~key_mask, NEG_INF)
    ranked[:, :protected] = float("inf")
    top = ranked.topk(n_keep, dim=1, sorted=False).indices  # (B, n_keep)
    return top.sort(dim=1).values


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather rows of x (B, N, ...) at idx (B, K) -> (B, K, ...)."""
    expand = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return torch.gather(x, 1, expand)


def rank_positions(scores: torch.Tensor) -> torch.Tensor:
    """Rank of each token by score, 0 = most important, (B, N). Used by soft extraction."""
    order = scores.argsort(dim=1, descending=True)  # (B, N)
    return order.argsort(dim=1)
