"""Sparse attention patterns (Breaking BERT, DESIGN 1.4) as boolean (B, N, N) masks. Pure functions.

mask[b, i, j] is True when query i may attend to key j. Every pattern is combined with padding (no pad
key is ever allowed) and the diagonal (always allowed) by `finalize`. Sparsity is measured over real
tokens only: 1 - allowed real pairs / n_real^2.
"""
from __future__ import annotations

import torch


def neighbour(n: int, width: int, device=None) -> torch.Tensor:
    """|i - j| <= width: (N, N)."""
    pos = torch.arange(n, device=device)
    return (pos[:, None] - pos[None, :]).abs() <= width


def global_tokens(n: int, positions: list[int], device=None) -> torch.Tensor:
    """Given positions attend everywhere and are attended from everywhere: (N, N)."""
    m = torch.zeros(n, n, dtype=torch.bool, device=device)
    idx = torch.tensor([p for p in positions if p < n], dtype=torch.long, device=device)
    m[idx, :] = True
    m[:, idx] = True
    return m


def random_keys(key_mask: torch.Tensor, r: int, seed: int) -> torch.Tensor:
    """r random real keys per query (without replacement), seeded: (B, N, N)."""
    b, n = key_mask.shape
    g = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.rand(b, n, n, generator=g).to(key_mask.device)  # (B, N, N)
    noise = noise.masked_fill(~key_mask[:, None, :], -1.0)  # pads never drawn
    top = noise.topk(min(r, n), dim=-1).indices  # (B, N, r)
    m = torch.zeros(b, n, n, dtype=torch.bool, device=key_mask.device).scatter_(-1, top, True)
    return m & key_mask[:, None, :]


def lexical(embeddings: torch.Tensor, key_mask: torch.Tensor, top: int) -> torch.Tensor:
    """Each query's `top` most similar real keys by cosine of input embeddings: (B, N, N)."""
    e = embeddings / embeddings.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    sim = (e @ e.transpose(1, 2)).masked_fill(~key_mask[:, None, :], float("-inf"))  # (B, N, N)
    idx = sim.topk(min(top, sim.shape[-1]), dim=-1).indices
    m = torch.zeros_like(sim, dtype=torch.bool).scatter_(-1, idx, True)
    return m & key_mask[:, None, :]


def syntax(distances: torch.Tensor | None, hops: int, n: int) -> torch.Tensor:
    """Word pieces within `hops` edges of the dependency parse (syntax.py computes the distances): (B, N, N)."""
    from ..errors import ConfigError

    if distances is None:
        raise ConfigError("the syntax pattern needs the batch's parse: pass leanbert_syntax= (the (B, N, N) "
                          "distances from leanbert.data.syntax.collate_distances), as leanbert's data loaders do")
    if distances.shape[-2:] != (n, n):
        raise ConfigError(f"leanbert_syntax has shape {tuple(distances.shape)}, the batch needs (B, {n}, {n})")
    return distances <= hops


def finalize(pattern: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Broadcast to (B, N, N), allow the diagonal, forbid pad keys. A pad query sees every real key
    (as Hugging Face's padding mask has it) and a row left with nothing keeps its diagonal, so no
    softmax row is ever empty (which would give NaN)."""
    b, n = key_mask.shape
    eye = torch.eye(n, dtype=torch.bool, device=key_mask.device)
    real_keys = key_mask[:, None, :].expand(b, n, n)
    allowed = (pattern.expand(b, n, n) | eye) & real_keys
    allowed = torch.where(key_mask[:, :, None], allowed, real_keys)  # pad queries: like the padding mask
    return allowed | (eye & ~allowed.any(dim=-1, keepdim=True))


def sparsity(mask: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Per example: 1 - allowed pairs among real tokens / n_real^2, averaged over heads for a per-head
    (B, H, N, N) mask. (B,)"""
    real_pairs = key_mask[:, :, None] & key_mask[:, None, :]  # (B, N, N)
    if mask.dim() == 4:
        real_pairs = real_pairs[:, None]
    allowed = (mask & real_pairs).sum(dim=(-2, -1)).float()
    per = 1 - allowed / real_pairs.sum(dim=(-2, -1)).clamp(min=1).float()
    return per.mean(dim=1) if mask.dim() == 4 else per


def bigbird(key_mask: torch.Tensor, width: int, n_random: int, global_positions=(0,), seed: int = 0) -> torch.Tensor:
    """Global + random + neighbour, BigBird-style; any component is dropped by giving it 0 / ()."""
    n = key_mask.shape[1]
    m = torch.zeros(1, n, n, dtype=torch.bool, device=key_mask.device)
    if width > 0:
        m = m | neighbour(n, width, key_mask.device)
    if global_positions:
        m = m | global_tokens(n, list(global_positions), key_mask.device)
    if n_random > 0:
        m = m | random_keys(key_mask, n_random, seed)
    return finalize(m, key_mask)
