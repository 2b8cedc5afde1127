"""The loop's entry for families without an encoder module (ModernBERT): the base model's forward taken over,
running the embeddings, the encoder loop (patch.reduced_encoder_forward) and the family's closing step (a final
norm) as Hugging Face's own forward does, so a head model calling its base model gets the reduced output."""
from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutput

from ..errors import ConfigError
from .masks import hf_mask
from .patch import _hf_config, backbone_of, reduced_encoder_forward


def reduced_base_forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, **kwargs):
    if (input_ids is None) == (inputs_embeds is None):
        raise ConfigError("pass exactly one of input_ids or inputs_embeds")
    backbone = backbone_of(self)
    hidden = backbone.embed(self, input_ids, inputs_embeds)  # (B, N, D)
    b, n, _ = hidden.shape
    if attention_mask is not None and attention_mask.dim() != 2:
        raise ConfigError(f"invalid attention_mask: token reduction needs a (batch, tokens) mask, got "
                          f"{attention_mask.dim()} dimensions")
    key_mask = (torch.ones(b, n, dtype=torch.bool, device=hidden.device) if attention_mask is None
                else attention_mask.bool())
    for name in ("return_dict", "use_cache"):
        kwargs.pop(name, None)
    out = reduced_encoder_forward(self, hidden, hf_mask(_hf_config(self), hidden, key_mask),
                                  start_positions=position_ids, **kwargs)
    states = getattr(out, "hidden_states", None)
    return BaseModelOutput(last_hidden_state=backbone.finish(self, out.last_hidden_state), hidden_states=states)
