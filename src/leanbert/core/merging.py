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


def bipartite_soft_matching(x: torch.Tensor, key_mask: torch.Tensor, sizes: torch.Tensor, r: int, passengers: int = 0):
    """ToMe-style merge of r tokens (Bolya et al., 2023): tokens alternate into sets A (even) and B (odd);
    each A token points at its most similar B token (cosine); the r most similar A tokens are merged
    into their B partners by size-weighted average. [CLS] (A's first) and pads are never sources; pads
    have size 0, so they never change a partner. Returns x (B, N-r, D), mask and sizes (B, N-r).
    `passengers`: trailing channels of x that are merged like the rest but not used for matching.
    """
    features = x[..., :x.shape[-1] - passengers]  # the last `passengers` channels ride along, unmatched
    metric = features / features.norm(dim=-1, keepdim=True).clamp(min=1e-6)  # (B, N, D)
    a, b = metric[:, ::2], metric[:, 1::2]  # (B, Na, D), (B, Nb, D)
    mask_a, mask_b = key_mask[:, ::2], key_mask[:, 1::2]
    sim = a @ b.transpose(1, 2)  # (B, Na, Nb)
    sim = sim.masked_fill(~mask_b[:, None, :], NEG_INF).masked_fill(~mask_a[:, :, None], NEG_INF)
    best, partner = sim.max(dim=-1)  # (B, Na)
    best = best.nan_to_num(neginf=-1e30)  # pads (and tokens with no real partner) rank below real tokens...
    best[:, 0] = NEG_INF  # ...and [CLS] below everything: it is never merged away (r < Na)
    order = best.argsort(dim=-1, descending=True, stable=True)  # (B, Na)
    src, keep_a = order[:, :r], order[:, r:].sort(dim=-1).values  # (B, r), (B, Na - r): [CLS] stays first
    dst = partner.gather(1, src)  # (B, r)
    xs_a, xs_b = x[:, ::2] * sizes[:, ::2, None], x[:, 1::2] * sizes[:, 1::2, None]  # size-weighted sums
    d = x.shape[-1]
    sum_b = xs_b.scatter_add(1, dst[..., None].expand(-1, -1, d), xs_a.gather(1, src[..., None].expand(-1, -1, d)))
    size_b = sizes[:, 1::2].scatter_add(1, dst, sizes[:, ::2].gather(1, src))  # (B, Nb)
    merged_b = sum_b / size_b[..., None].clamp(min=1e-6)  # (B, Nb, D)
    out = torch.cat([x[:, ::2].gather(1, keep_a[..., None].expand(-1, -1, d)), merged_b], dim=1)
    out_mask = torch.cat([mask_a.gather(1, keep_a), mask_b], dim=1)
    out_sizes = torch.cat([sizes[:, ::2].gather(1, keep_a), size_b], dim=1)
    return out, out_mask, out_sizes


def coarse_positions(positions: torch.Tensor, key_mask: torch.Tensor, keep_idx: torch.Tensor, scores: torch.Tensor,
                     k: int, mode: str = "mean") -> torch.Tensor:
    """(B, k) the mean original position of each coarse token's members under its merge weights (normalised
    to 1). Elementwise, not a matmul: like the softmaxes and norms, outside the matmul-only FLOPs count."""
    assign = chunk_assignment(unselected_real(key_mask, keep_idx), k)  # (B, N, k)
    w = merge_weights(assign, torch.nan_to_num(scores, nan=0.0, neginf=0.0, posinf=0.0), mode)  # (B, N, k)
    return (w * positions[..., None]).sum(dim=1)
