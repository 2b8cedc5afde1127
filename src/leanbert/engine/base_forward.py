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
    default = torch.arange(n, device=hidden.device).expand(b, n)
    if position_ids is not None and not torch.equal(position_ids.expand(b, n).to(default.device), default):
        raise ConfigError("position_ids other than 0..N-1 are not supported on a leanbert-patched "
                          f"{self.config.model_type} model: its sliding windows and rotary angles both follow the "
                          "positions the loop carries")
    key_mask = (torch.ones(b, n, dtype=torch.bool, device=hidden.device) if attention_mask is None
                else attention_mask.bool())
    return_dict = kwargs.pop("return_dict", None)
    kwargs.pop("use_cache", None)
    config = _hf_config(self)
    kwargs.setdefault("output_hidden_states", bool(getattr(config, "output_hidden_states", False)))
    out = reduced_encoder_forward(self, hidden, hf_mask(config, hidden, key_mask), **kwargs)
    last = backbone.finish(self, out.last_hidden_state)
    states = getattr(out, "hidden_states", None)
    if states is not None:  # as in Hugging Face: the last entry is the output after the final norm
        states = (*states[:-1], last)
    result = BaseModelOutput(last_hidden_state=last, hidden_states=states)
    return result.to_tuple() if return_dict is False else result
