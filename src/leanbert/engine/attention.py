"""The attention sub-layer computed explicitly, for the layers that need more than the model's own kernel gives:
the blocked attention-with-statistics pass of scoring layers, and the sub-layer around a replacement kernel
(banded attention). What a family's layer looks like inside comes from its adapter (backbones/)."""
from __future__ import annotations

import torch

from .. import backbones
from ..core import banded, scoring


def attention_with_kernel(layer, hidden: torch.Tensor, key_mask: torch.Tensor, kernel, backbone=None) -> torch.Tensor:
    """The attention sub-layer with its core (softmax(QK^T)V) replaced by `kernel` (e.g. banded attention)."""
    backbone = backbone or backbones.FAMILIES["bert"]
    b, n, _ = hidden.shape
    q, k, v = backbone.project(layer, hidden)
    context = kernel(q, k, v, key_mask, scale=backbone.scaling(layer)).transpose(1, 2).reshape(b, n, -1)  # (B, N, D)
    return backbone.attention_output(layer, context, hidden)


QUERY_CHUNK = 64  # queries per block in scoring layers: (B*H, 64, N) probabilities at a time


def pattern_bias(allowed: torch.Tensor, heads: int, dtype) -> torch.Tensor:
    """(B, c, N) or per-head (B, H, c, N) bool -> (B*H, c, N) additive: 0 where allowed, the dtype's
    minimum elsewhere."""
    bias = (allowed.to(dtype) - 1) * torch.finfo(dtype).max
    return bias.flatten(0, 1) if bias.dim() == 4 else bias.repeat_interleave(heads, dim=0)


def attention_with_stats(layer, hidden: torch.Tensor, key_mask: torch.Tensor, chunk: int = QUERY_CHUNK,
                         allowed: torch.Tensor | None = None, band: banded.Band | None = None, backbone=None,
                         position_bias: torch.Tensor | None = None):
    """The attention sub-layer (self-attention + output projection + residual LayerNorm) computed explicitly,
    so that the statistics the scores need come out. Returns output (B, N, D), AttentionStats, values
    (B, H, N, Dh). `position_bias`: what the family's attention needs of the tokens' positions (MPNet: a
    (B, H, N, N) bias added to the logits; ModernBERT: rotary angles and the sliding window), read by the
    adapter's `project` and `logit_bias`.

    Queries are processed in blocks: each block's probabilities (B*H, c, keys) are made, used for the context
    and folded into the per-key sums, then dropped, so the (B, H, N, N) matrix never exists (at 512 tokens,
    batch 32, it is 400 MB and made a scoring layer about 3x slower than SDPA; blocked, about 1.6x). Blocks
    come from `_full_blocks` (every key, `chunk` queries at a time; one block with a symbolic length, for
    export; `allowed` (B, N, N), a sparse pattern in patterns.finalize form, restricts each query's keys) or
    from `_band_blocks` (`band`: a neighbour pattern, each query block scoring only the keys in its window).
    """
    backbone = backbone or backbones.FAMILIES["bert"]
    b, n, _ = hidden.shape
    dh, scaling, dropout = backbone.head_size(layer), backbone.scaling(layer), backbone.attention_dropout(layer)
    q, k, v = (x.reshape(-1, n, dh) for x in backbone.project(layer, hidden, position_bias))  # (B*H, N, Dh)
    h = q.shape[0] // b
    extra = backbone.logit_bias(layer, position_bias)  # (B, H or 1, N, N) or None
    real = key_mask.to(q.dtype).repeat_interleave(h, dim=0)[:, None, :]  # (B*H, 1, N)
    blocks = (_band_blocks(n, band, key_mask, h, q.dtype) if band is not None
              else _full_blocks(n, chunk, real, allowed, h, q.dtype))
    contexts, selfs, received = [], [], torch.zeros_like(real)
    for start, stop, keys, bias, every_key in blocks:
        if extra is not None:  # (B, H|1, c, keys) -> (B*H, c, keys)
            bias = bias + extra[:, :, start:stop][..., keys].expand(b, h, -1, -1).reshape(b * h, stop - start, -1)
        probs = torch.baddbmm(bias, q[:, start:stop], k[:, keys].transpose(1, 2), alpha=scaling).softmax(dim=-1)
        contexts.append(torch.bmm(dropout(probs), v[:, keys]))  # (B*H, c, Dh)
        if every_key:  # + the sum over this block's real queries, fused into one GEMM
            received = torch.baddbmm(received, real[:, :, start:stop], probs)  # (B*H, 1, N)
        else:  # a window of keys: scatter the sums to their positions
            positions = banded.key_positions_of(keys, hidden.device)
            received = received.index_add(2, positions, torch.bmm(real[:, :, start:stop], probs))
        if isinstance(keys, slice):  # contiguous keys: each query's own key lies on a diagonal
            selfs.append(torch.diagonal(probs[:, :, start - keys.start:stop - keys.start], dim1=1, dim2=2))  # (B*H, c)
        else:  # [CLS] + a window
            own = torch.searchsorted(keys, torch.arange(start, stop, device=hidden.device))
            selfs.append(probs.gather(2, own[None, :, None].expand(probs.shape[0], -1, 1))[..., 0])  # (B*H, c)
    context = torch.cat(contexts, dim=1).view(b, h, n, dh).transpose(1, 2).reshape(b, n, -1)  # (B, N, D)
    self_attention = torch.cat(selfs, dim=1).view(b, h, n) * key_mask[:, None, :]
    stats = scoring.AttentionStats(received.view(b, h, n), self_attention)
    return backbone.attention_output(layer, context, hidden), stats, v.view(b, h, n, dh)


def _full_blocks(n, chunk: int, real: torch.Tensor, allowed, heads: int, dtype):
    """(start, stop, keys, bias, every key?) per query block over every key; bias (B*H, 1 or c, N) masks pads
    (and the pattern)."""
    pad_bias = (real - 1) * torch.finfo(dtype).max  # (B*H, 1, N): 0 for real keys, the dtype's minimum for pads
    starts = [0] if isinstance(n, torch.SymInt) else range(0, n, chunk)
    for start in starts:
        stop = n if isinstance(n, torch.SymInt) else min(n, start + chunk)
        yield start, stop, slice(0, n), pad_bias if allowed is None else pattern_bias(allowed[:, start:stop], heads, dtype), True


def _band_blocks(n: int, band: banded.Band, key_mask: torch.Tensor, heads: int, dtype):
    """(start, stop, keys, bias, every key?) per query block of a neighbour pattern: only its window's keys."""
    for blk in banded.query_blocks(n, band.width, band.global_first, device=key_mask.device):
        allowed = banded.block_allowed(blk, band.width, band.global_first, key_mask, band.head_widths)  # (B[, H], c, L)
        yield blk.start, blk.stop, blk.keys, pattern_bias(allowed, heads, dtype), False
