"""Banded attention that skips the work a neighbour(+global [CLS]) pattern masks out. Pure functions.

For the pattern |i - j| <= width (plus [CLS] attended by every query and attending to every key when
`global_first`), queries are processed in blocks of `block`; a block [s, e) only needs the keys in the window
[s - width, e + width), plus key 0. Each block is one SDPA call on (block x window) instead of
(block x N), so at 512 tokens and width 48 the attention core does about a third of the dense work.
Output equals masked dense attention (patterns.finalize semantics) on every real query; padded queries
get finite values that nothing reads (pads are never keys).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_BLOCK = 64


def window_fraction(n: int, width: int, block: int = DEFAULT_BLOCK) -> float:
    """Share of the dense (N x N) score matrix the blocked kernel computes: the cost model `auto` uses."""
    return computed_pairs(n, width, True, block) / (n * n) if n > 0 else 1.0


def block_windows(n: int, width: int, global_first: bool, block: int = DEFAULT_BLOCK):
    """(start, stop, lo, hi, with_cls) for each query block: queries [start, stop) see keys [lo, hi) (+ key 0)."""
    for start in range(0, n, block):
        stop = min(n, start + block)
        lo, hi = max(0, start - width), min(n, stop + width)
        yield start, stop, lo, hi, global_first and lo > 0


def computed_pairs(n: int, width: int, global_first: bool, block: int = DEFAULT_BLOCK) -> int:
    """Query-key pairs the kernel scores (each costs 2 x Dh FLOPs in QK^T and again in PV, per head)."""
    pairs = sum((stop - start) * (hi - lo + cls) for start, stop, lo, hi, cls in block_windows(n, width, global_first, block))
    return pairs + (n if global_first else 0)  # [CLS]'s full row


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor, width: int,
                     global_first: bool = True, scale: float | None = None, block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """q, k, v (B, H, N, Dh); key_mask (B, N) bool. Returns the attention context (B, H, N, Dh)."""
    b, h, n, dh = q.shape
    pos = torch.arange(n, device=q.device)
    outs = []
    for start, stop, lo, hi, with_cls in block_windows(n, width, global_first, block):
        keys = torch.cat([pos[:1], pos[lo:hi]]) if with_cls else pos[lo:hi]  # [CLS] is a key for every query
        rows = pos[start:stop]
        allowed = (rows[:, None] - keys[None, :]).abs() <= width  # (c, L): the band, diagonal included
        if global_first:
            allowed = allowed | (keys == 0)[None, :]
        allowed = allowed[None, None] & key_mask[:, keys][:, None, None, :]  # (B, 1, c, L): no pad key
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)  # a pad query with no real key in reach: any key, finite
        k_blk, v_blk = (k[:, :, keys], v[:, :, keys]) if with_cls else (k[:, :, lo:hi], v[:, :, lo:hi])
        outs.append(F.scaled_dot_product_attention(q[:, :, start:stop], k_blk, v_blk, attn_mask=allowed, scale=scale))
    out = torch.cat(outs, dim=2)  # (B, H, N, Dh)
    if global_first:  # [CLS] attends to every real key
        row0 = F.scaled_dot_product_attention(q[:, :, :1], k, v, attn_mask=key_mask[:, None, None, :], scale=scale)
        out = torch.cat([row0, out[:, :, 1:]], dim=2)
    return out
