"""`output_hidden_states` and `output_attentions` on a patched model: what the encoder loop (patch.py) returns."""
from __future__ import annotations

from transformers.utils import output_capturing

from ..errors import ConfigError

# Hugging Face collects `output_hidden_states` / `output_attentions` with forward hooks on BertLayer and
# BertSelfAttention, which reducing layers bypass (they run the sub-layers themselves): left alone, a patched
# model would return hidden states for some layers only, misnumbered. So the loop records every layer's
# hidden states itself into Hugging Face's collector, and refuses attentions (below).


def hidden_states_wanted(kwargs) -> bool:
    """Whether Hugging Face's output recorder collects hidden states in this call; refuses attentions."""
    collecting = output_capturing._active_collector.get() or {}
    if "attentions" in collecting or kwargs.get("output_attentions"):
        raise ConfigError("output_attentions is not available on a leanbert-patched model: reducing and sparse "
                          "layers never build the attention matrix; the dense model gives them "
                          "(leanbert.remove(model), or `with leanbert.engine.api.applied(model, None):`)")
    return "hidden_states" in collecting


def record_hidden_states(states: list) -> None:
    """Put the embeddings and every layer's output (B, N_l, D), at the length each has after its layer, where
    Hugging Face returns them from; indices that `output_hidden_states` did not select stay None, as in HF."""
    collecting = output_capturing._active_collector.get()
    selected = collecting.get("_hidden_states_layers")
    collecting["hidden_states"][:] = [h if selected is None or i in selected else None for i, h in enumerate(states)]
