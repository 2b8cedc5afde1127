"""FCA's coarse tokens: merging the non-kept real tokens into k tokens. Pure functions on tensors.

U = real tokens not selected as fine. U, in original order, is cut into k contiguous chunks of (nearly)
equal size; each chunk becomes one coarse token, the mean or the score-softmax-weighted combination
of its members. Pads never enter U. A chunk with no member gives a zero vector that is masked out.
"""
from __future__ import annotations

import torch

NEG_INF = float("-inf")


def unselected_real(key_mask: torch.Tensor, keep_idx: torch.Tensor) -> torch.Tensor:
    """(B, N) bool: real tokens that were not kept as fine tokens."""
    kept = torch.zeros_like(key_mask).scatter_(1, keep_idx, True)
    return key_mask & ~kept


def chunk_assignment(members: torch.Tensor, k: int) -> torch.Tensor:
    """(B, N, k) bool: token n belongs to chunk c of its row's members, contiguous in original order."""
    order = members.long().cumsum(dim=1) - 1  # (B, N): position of each member inside U
    size = members.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1)
    chunk = order * k // size  # (B, N): integer chunk index, contiguous
    one_hot = chunk[..., None] == torch.arange(k, device=members.device)  # (B, N, k)
    return one_hot & members[..., None]


def merge_weights(assign: torch.Tensor, scores: torch.Tensor, mode: str, divide_by_count: bool = False) -> torch.Tensor:
    """(B, N, k) weights, each chunk's column summing to 1 (0 for an empty chunk).

    mode "mean": uniform over the chunk; "weighted": softmax of the scores over the chunk.
    divide_by_count reproduces the reference code's extra 1/|chunk| factor on the weighted sum.
    """
    counts = assign.sum(dim=1, keepdim=True)  # (B, 1, k)
    if mode == "mean":
        w = assign.to(scores.dtype) / counts.clamp(min=1)
    elif mode == "weighted":
        logits = scores[..., None].expand_as(assign).masked_fill(~assign, NEG_INF)  # (B, N, k)
        peak = logits.amax(dim=1, keepdim=True).nan_to_num(neginf=0.0)  # (B, 1, k), 0 for empty chunks
        e = (logits - peak).exp()  # exp(-inf) = 0 outside the chunk
        w = e / e.sum(dim=1, keepdim=True).clamp(min=torch.finfo(e.dtype).tiny)
    else:
        raise ValueError(f"unknown merge mode {mode!r}")
    if divide_by_count:
        w = w / counts.clamp(min=1)
    return w


def merge_coarse(hidden: torch.Tensor, key_mask: torch.Tensor, keep_idx: torch.Tensor, scores: torch.Tensor,
                 k: int, mode: str = "mean", divide_by_count: bool = False):
    """Coarse tokens (B, k, D) and their mask (B, k) from the tokens not in keep_idx."""
    members = unselected_real(key_mask, keep_idx)  # (B, N)
    assign = chunk_assignment(members, k)  # (B, N, k)
    finite_scores = torch.nan_to_num(scores, nan=0.0, neginf=0.0, posinf=0.0)
    w = merge_weights(assign, finite_scores, mode, divide_by_count)  # (B, N, k)
    coarse = torch.einsum("bnk,bnd->bkd", w, hidden)  # (B, k, D)
    return coarse, assign.any(dim=1)
