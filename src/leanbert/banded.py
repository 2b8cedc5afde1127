"""Banded attention that skips the work a neighbour(+global [CLS]) pattern masks out. Pure functions.

For the pattern |i - j| <= width (plus [CLS] attended by every query and attending to every key when
`global_first`), queries are processed in blocks of `block`; a block [s, e) only needs the keys in the window
[s - width, e + width), plus key 0, so each block scores (block x window) instead of (block x N): at 512
tokens and width 48 the attention core does about a third of the dense work. [CLS]'s own row (when global)
is one more block, over every key. Blocks of the same shape run as one SDPA call (`block_groups`).
Output equals masked dense attention (patterns.finalize semantics) on every real query; padded queries
get finite values that nothing reads (pads are never keys).
"""
from __future__ import annotations

import functools
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


class BlockGroup(NamedTuple):
    """Query blocks of one shape (c queries, L keys each), run as one SDPA call with the blocks as batch."""
    rows: torch.Tensor  # (G, c) query positions
    keys: torch.Tensor  # (G, L) key positions
    pattern: torch.Tensor  # (G, c, L) or (H, G, c, L) bool: the band (+ [CLS]) inside each window, before pads


@functools.lru_cache(maxsize=64)
def block_groups(n: int, width: int, global_first: bool, block: int = DEFAULT_BLOCK,
                 head_widths: tuple[int, ...] | None = None) -> tuple[BlockGroup, ...]:
    """query_blocks grouped into runs of consecutive blocks of one shape. Every layer of a forward pass (and every batch of one length) runs the
    same blocks, so the positions and the pattern are built once per (n, width, ...) and cached; only the
    padding part of the mask is made per call. Built on the CPU; `banded_attention` moves them."""
    runs: list[list[QueryBlock]] = []  # consecutive blocks of one shape (queries c, keys L)
    for blk in query_blocks(n, width, global_first, block):
        if runs and (runs[-1][0].stop - runs[-1][0].start, runs[-1][0].n_keys) == (blk.stop - blk.start, blk.n_keys):
            runs[-1].append(blk)
        else:
            runs.append([blk])
    groups = []
    for blocks in runs:
        rows = torch.stack([torch.arange(b.start, b.stop) for b in blocks])  # (G, c)
        keys = torch.stack([key_positions(b) for b in blocks])  # (G, L)
        distance = (rows[:, :, None] - keys[:, None, :]).abs()  # (G, c, L)
        limit = width if head_widths is None else torch.tensor(head_widths)[:, None, None, None]  # or (H, 1, 1, 1)
        pattern = distance <= limit  # the band, diagonal included
        if global_first:
            pattern = pattern | (keys == 0)[:, None, :] | (rows == 0)[:, :, None]
        assert rows[-1, -1] - rows[0, 0] + 1 == rows.numel()  # consecutive blocks: the kernel slices, not gathers
        groups.append(BlockGroup(rows, keys, pattern))
    return tuple(groups)


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor, width: int,
                     global_first: bool = True, scale: float | None = None, block: int = DEFAULT_BLOCK,
                     head_widths: torch.Tensor | None = None) -> torch.Tensor:
    """q, k, v (B, H, N, Dh); key_mask (B, N) bool; head_widths (H,) or None (every head `width`).
    Returns the attention context (B, H, N, Dh).

    The blocks of `query_blocks` are grouped by shape (`block_groups`: [CLS]'s row, the first block, the
    interior blocks, the last one or two) and each group is one SDPA call with its blocks folded into the batch
    dimension: at 512 tokens that is 3-4 calls per layer instead of 9, with the window gathers and the mask made
    once per group (per-block calls and masks were a large part of the kernel's time at batch 1). The same
    query-key pairs are scored as block by block, so `computed_pairs` counts this kernel's work."""
    b, h, n, dh = q.shape
    widths = None if head_widths is None else tuple(int(w) for w in head_widths)
    # Gathers run on the (B, N, H, Dh) layout the projections come in (a token's heads are one contiguous row);
    # on the transposed view they would copy Dh floats at a time (measured: slower than the attention itself).
    q, k, v = (t.transpose(1, 2).contiguous() for t in (q, k, v))  # (B, N, H, Dh); no copy for projections
    out = q.new_empty(b, n, h, dh)
    for group in block_groups(n, width, global_first, block, widths):
        rows, keys, pattern = (t.to(q.device) for t in group)
        g, c, L = rows.shape[0], rows.shape[1], keys.shape[1]
        # (B, G*c | G, L, H, Dh) -> (B*G, H, c|L, Dh): the blocks become batch entries, heads stay heads
        fold = lambda t, length: t.reshape(b * g, length, h, dh).transpose(1, 2)  # noqa: E731
        real = key_mask[:, keys]  # (B, G, L): pads are never keys
        if widths is None:
            allowed = (pattern[None] & real[:, :, None, :])[:, :, None]  # (B, G, 1, c, L)
        else:
            allowed = pattern.transpose(0, 1)[None] & real[:, :, None, None, :]  # (B, G, H, c, L)
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)  # a pad query with no real key in reach: any key, finite
        first, last = int(rows[0, 0]), int(rows[-1, -1]) + 1  # a group's queries are one run of positions
        window = lambda t: t.view(b, n, h * dh).index_select(1, keys.reshape(-1))  # noqa: E731 (6x faster than t[:, keys])
        context = F.scaled_dot_product_attention(fold(q[:, first:last], c), fold(window(k), L), fold(window(v), L),
                                                 attn_mask=allowed.reshape(b * g, allowed.shape[2], c, L), scale=scale)
        out[:, first:last] = context.transpose(1, 2).reshape(b, g * c, h, dh)
    return out.transpose(1, 2)  # (B, H, N, Dh), a view: callers fold the heads back with transpose + reshape
