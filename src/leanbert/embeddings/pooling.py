"""Mean pooling after token reduction: as close as possible to the mean over the original tokens.

The sentence-transformers recipe is the mean of the last layer's states over the real tokens. A reduced
model ends with fewer tokens, so each original token must be accounted for some other way:

- merged tokens (ToMe, FCA's coarse tokens with sizes) carry `sizes`, the number of originals each stands
  for: a size-weighted mean over the survivors weighs every original token once;
- dropped tokens (ACC, PoWER-BERT, LTP) leave at some layer. The rule `exit` (the default) pools each at the
  layer where it leaves, with its state after that layer's attention sub-layer (the last state it had; its
  feed-forward block is what the reduction saves). The rule `survivors` pools only the tokens still present
  at the end (a size-weighted mean over them): it forgets what the dropped tokens said.

`exit` needs no token identities: at a reducing layer the size-weighted sum over the sequence before the
reduction minus the same sum after it is exactly the mass that left. A merge keeps that sum (a merged token is
its members' size-weighted mean), so merging methods add nothing there; a drop adds the dropped tokens' states;
FCA's k coarse tokens (each the mean of its chunk, size 1) leave m - 1 of a chunk's m members at that layer.
Either way the weights sum to the original number of real tokens (tests/test_embeddings.py pins it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError

RULES = ("exit", "survivors")


@dataclass
class Pooled:
    """The weighted sum of token states (B, D) and the total weight (B,) behind it."""
    total: torch.Tensor
    weight: torch.Tensor

    def mean(self) -> torch.Tensor:
        return self.total / self.weight.clamp(min=1e-9)[:, None]  # (B, D)


def _weights(key_mask: torch.Tensor, sizes, dtype) -> torch.Tensor:
    """(B, N) how many original tokens each position stands for (pads: 0)."""
    mask = key_mask.to(dtype)
    return mask if sizes is None else sizes.to(dtype) * mask


def _weighted_sum(hidden: torch.Tensor, key_mask: torch.Tensor, sizes) -> Pooled:
    w = _weights(key_mask, sizes, hidden.dtype)  # (B, N)
    return Pooled(torch.einsum("bn,bnd->bd", w, hidden), w.sum(dim=1))


def exited(reductions: list) -> Pooled | None:
    """The mass that left the sequence at each reducing layer (recorded by patch.py under
    `leanbert_reductions`), summed over the layers; None when nothing was recorded."""
    total = None
    for _, before, after in reductions:
        gone_in, gone_out = _weighted_sum(*before), _weighted_sum(*after)
        step = Pooled(gone_in.total - gone_out.total, gone_in.weight - gone_out.weight)
        total = step if total is None else Pooled(total.total + step.total, total.weight + step.weight)
    return total


def final_state(attention_mask: torch.Tensor, reductions: list):
    """(key_mask, sizes) of the last layer's output: the last reduction's, or the input mask when none."""
    if not reductions:
        return attention_mask.bool(), None
    _, _, (_, key_mask, sizes) = reductions[-1]
    return key_mask, sizes


def pool(last_hidden: torch.Tensor, attention_mask: torch.Tensor, reductions: list, rule: str = "exit") -> Pooled:
    """Pool a (possibly reduced) model's output (B, N', D): `attention_mask` is the input's (B, N),
    `reductions` what patch.py recorded in that call."""
    if rule not in RULES:
        raise ConfigError(f"invalid config field 'pooling': unknown rule {rule!r}, choose from {', '.join(RULES)}")
    key_mask, sizes = final_state(attention_mask, reductions)
    pooled = _weighted_sum(last_hidden, key_mask, sizes)
    gone = exited(reductions) if rule == "exit" else None
    if gone is not None:
        pooled = Pooled(pooled.total + gone.total.to(pooled.total.dtype), pooled.weight + gone.weight)
    return pooled


def mean_pool(model, batch: dict, rule: str = "exit", normalize: bool = True) -> torch.Tensor:
    """(B, D) sentence embeddings of a base encoder (patched or not) on one tokenized batch."""
    from ..backbones import for_model
    from ..engine import api

    reductions: list = []
    extra = {} if api.current_config(model) is None else {"leanbert_reductions": reductions}
    out = model(**batch, **extra)
    if rule == "exit" and reductions and for_model(model).norm_after_layers:
        gone = exited(reductions)
        if gone is not None and bool((gone.weight > 0).any()):  # tokens were dropped, not only merged
            raise ConfigError(f"pooling rule 'exit' pools dropped tokens with the state they left with, which on "
                              f"{model.config.model_type} never passed the final norm the kept tokens pass; use "
                              "rule 'survivors', or a merging method (tome)")
    emb = pool(out.last_hidden_state, batch["attention_mask"], reductions, rule).mean()
    return torch.nn.functional.normalize(emb, dim=-1) if normalize else emb
