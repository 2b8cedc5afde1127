"""Masks between Hugging Face's format and the loop's (B, N) key mask, for the current (possibly shorter) sequence."""
from __future__ import annotations

import torch
from transformers.masking_utils import create_bidirectional_mask

from ..errors import ConfigError


def key_mask_from_hf(attention_mask, hidden: torch.Tensor) -> torch.Tensor:
    """(B, N) bool of real tokens, recovered from the 4D mask Hugging Face built (None = no padding)."""
    b, n, _ = hidden.shape
    if attention_mask is None:
        return torch.ones(b, n, dtype=torch.bool, device=hidden.device)
    if not isinstance(attention_mask, torch.Tensor):
        raise ConfigError("token reduction supports attn_implementation 'eager' or 'sdpa'; "
                          f"got a {type(attention_mask).__name__} mask")
    allowed = attention_mask[:, 0] if attention_mask.dtype == torch.bool else attention_mask[:, 0] == 0  # (B, Nq, N)
    return allowed.any(dim=-2)


def hf_mask(config, hidden: torch.Tensor, key_mask: torch.Tensor):
    """The mask the model's own attention implementation expects, for the current (shorter) sequence."""
    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=key_mask)


def pair_mask(config, allowed: torch.Tensor, dtype):
    """A (B, N, N) query-key pattern in the format of the model's attention implementation:
    bool (B, 1, N, N) for SDPA, additive float for eager."""
    if config._attn_implementation == "sdpa":
        return allowed[:, None]
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
        ~allowed, torch.finfo(dtype).min)[:, None]


def proportional_mask(key_mask: torch.Tensor, sizes: torch.Tensor, dtype) -> torch.Tensor:
    """Additive (B, 1, 1, N) mask adding log(size) to each key's logit (ToMe's proportional attention);
    pads get the dtype's minimum. Both SDPA and eager attention accept additive float masks."""
    bias = sizes.clamp(min=1e-6).log().to(dtype)  # (B, N)
    return bias.masked_fill(~key_mask, torch.finfo(dtype).min)[:, None, None, :]
