"""Banded attention that skips the work a neighbour(+global [CLS]) pattern masks out. Pure functions.

For the pattern |i - j| <= width (plus [CLS] attended by every query and attending to every key when
`global_first`), queries are processed in blocks of `block`; a block [s, e) only needs the keys in the window
[s - width, e + width), plus key 0. Each block is one SDPA call on (block x window) instead of
(block x N), so at 512 tokens and width 48 the attention core does about a third of the dense work.
[CLS]'s own row (when global) is one more block, over every key.
Output equals masked dense attention (patterns.finalize semantics) on every real query; padded queries
get finite values that nothing reads (pads are never keys).
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
import torch.nn.functional as F

DEFAULT_BLOCK = 64


class Band(NamedTuple):
    """A neighbour (+ global [CLS]) pattern as the kernel runs it. `head_widths` (H,), when given, narrows
    each head's band inside the window of the widest one (`width` = their maximum): learned degrees."""
    width: int
    global_first: bool
    head_widths: torch.Tensor | None = None


class QueryBlock(NamedTuple):
    start: int  # queries [start, stop)
    stop: int
    keys: slice | torch.Tensor  # the keys they may see: a contiguous window, or an index tensor
    n_keys: int


def query_blocks(n: int, width: int, global_first: bool, block: int = DEFAULT_BLOCK, device=None) -> Iterator[QueryBlock]:
    """The blocks in query order; with `global_first`, [CLS]'s row comes first, over all keys."""
    first = 0
    if global_first:
        yield QueryBlock(0, 1, slice(0, n), n)
        first = 1
    for start in range(first, n, block):
        stop = min(n, start + block)
        lo, hi = max(0, start - width), min(n, stop + width)
        if global_first and lo > 0:  # [CLS] is a key for every query
            yield QueryBlock(start, stop, torch.cat([torch.zeros(1, dtype=torch.long, device=device),
                                                      torch.arange(lo, hi, device=device)]), hi - lo + 1)
        else:
            yield QueryBlock(start, stop, slice(lo, hi), hi - lo)


def key_positions(blk: QueryBlock, device=None) -> torch.Tensor:
    return key_positions_of(blk.keys, device)


def key_positions_of(keys: slice | torch.Tensor, device=None) -> torch.Tensor:
    return torch.arange(keys.start, keys.stop, device=device) if isinstance(keys, slice) else keys


def block_allowed(blk: QueryBlock, width: int, global_first: bool, key_mask: torch.Tensor,
                  head_widths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, c, L) bool -- (B, H, c, L) with per-head widths: the pattern inside one block, pads excluded,
    no row left empty."""
    rows = torch.arange(blk.start, blk.stop, device=key_mask.device)
    keys = key_positions(blk, key_mask.device)
    distance = (rows[:, None] - keys[None, :]).abs()  # (c, L)
    limit = width if head_widths is None else head_widths.to(key_mask.device)[:, None, None]  # scalar or (H, 1, 1)
    allowed = distance <= limit  # the band, diagonal included: (c, L) or (H, c, L)
    if global_first:
        allowed = allowed | (keys == 0)[None, :] | (rows == 0)[:, None]
    real_keys = key_mask[:, keys][:, None, :]  # (B, 1, L)
    allowed = allowed[None] & (real_keys if head_widths is None else real_keys[:, None])  # no pad key
    return allowed | ~allowed.any(dim=-1, keepdim=True)  # a pad query with no real key in reach: any key, finite


def computed_pairs(n: int, width: int, global_first: bool, block: int = DEFAULT_BLOCK) -> int:
    """Query-key pairs the kernel scores (each costs 2 x Dh FLOPs in QK^T and again in PV, per head)."""
    return sum((b.stop - b.start) * b.n_keys for b in query_blocks(n, width, global_first, block))


def window_fraction(n: int, width: int, block: int = DEFAULT_BLOCK) -> float:
    """Share of the dense (N x N) score matrix the blocked kernel computes: the cost model `auto` uses."""
    return computed_pairs(n, width, True, block) / (n * n) if n > 0 else 1.0


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor, width: int,
                     global_first: bool = True, scale: float | None = None, block: int = DEFAULT_BLOCK,
                     head_widths: torch.Tensor | None = None) -> torch.Tensor:
    """q, k, v (B, H, N, Dh); key_mask (B, N) bool; head_widths (H,) or None (every head `width`).
    Returns the attention context (B, H, N, Dh)."""
    # Head-split projections arrive as transposed views; sliced per block they would make SDPA gather strided
    # memory for every block (measured: slower than dense at batch 8). One copy up front is cheaper.
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    outs = []
    for blk in query_blocks(q.shape[2], width, global_first, block, q.device):
        allowed = block_allowed(blk, width, global_first, key_mask, head_widths)
        allowed = allowed[:, None] if head_widths is None else allowed  # (B, 1 or H, c, L)
        outs.append(F.scaled_dot_product_attention(q[:, :, blk.start:blk.stop], k[:, :, blk.keys], v[:, :, blk.keys],
                                                   attn_mask=allowed, scale=scale))
    return torch.cat(outs, dim=2)  # (B, H, N, Dh)
