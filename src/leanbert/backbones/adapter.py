"""The backbone seam: what the encoder loop (patch.py) needs to know about one model family.

An adapter answers where the layers are, how to project queries/keys/values, how to run a layer's attention
output, its feed-forward block and the whole layer as Hugging Face runs it, what mask the family's attention
expects, whether attention needs positions carried through reduction (MPNet's relative position bias), and
the layer shape the FLOPs formulas take. `BertLike` is the BERT layout, shared as is by RoBERTa (and so
XLM-RoBERTa and CamemBERT) and ELECTRA; families with other internals subclass it (distilbert.py, mpnet.py).
Nothing outside `backbones/` reads a family's module names.
"""
from __future__ import annotations

import torch


class BertLike:
    """BERT's layout: model.<base>.encoder.layer[i] with attention.self.{query,key,value},
    attention.output(context, residual), feed_forward_chunk; a pooler + classifier head."""

    model_types: tuple[str, ...] = ("bert",)
    # parameters fine-tuning trains from scratch on a bare backbone (checked when loading)
    head_prefixes: tuple[str, ...] = ("classifier.", "bert.pooler.")
    attn_implementations: tuple[str, ...] = ("sdpa", "eager")
    carries_positions = False  # True: attention needs each token's original position (relative position bias)
    position_offset = 0  # positions the embedding table reserves before the first token (RoBERTa: padding_idx + 1)

    takes_input_ids = False  # True: the loop takes over the base model's forward (no encoder module: ModernBERT)
    norm_after_layers = False  # True: a final norm follows the last layer (ModernBERT), so a state that left the
    # sequence at an earlier layer never passed it (embeddings' `exit` pooling cannot mix the two)

    # --- where things are -------------------------------------------------------------------------------
    def encoder(self, model: torch.nn.Module):
        """The module whose forward the loop takes over."""
        base = getattr(model, "base_model", model)
        return getattr(base, "encoder", None)

    def layers(self, encoder):
        """The encoder's layer list (None: not found)."""
        return getattr(encoder, "layer", None)

    def embeddings(self, model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, N, D) input of the first layer."""
        return model.base_model.embeddings(input_ids=input_ids)

    def self_attention(self, layer):
        return layer.attention.self

    # --- running pieces of a layer ------------------------------------------------------------------------
    def qkv_projections(self, layer):
        sa = self.self_attention(layer)
        return sa.query, sa.key, sa.value

    def project(self, layer, hidden: torch.Tensor, position_bias=None):
        """The layer's queries, keys and values for its attention, each (B, H, N, Dh)."""
        b, n, _ = hidden.shape
        dh = self.head_size(layer)
        return tuple(f(hidden).view(b, n, -1, dh).transpose(1, 2) for f in self.qkv_projections(layer))

    def logit_bias(self, layer, position_bias):
        """(B, H or 1, N, N) added to the attention logits, or None (MPNet: its relative position bias)."""
        return position_bias

    def head_size(self, layer) -> int:
        return self.self_attention(layer).attention_head_size

    def scaling(self, layer) -> float:
        return self.head_size(layer) ** -0.5

    def attention_dropout(self, layer):
        return self.self_attention(layer).dropout

    def output_weight(self, layer) -> torch.Tensor:
        """W_O (D, D): the attention output projection (ACC's value-norm score reads it)."""
        return layer.attention.output.dense.weight

    def attention_output(self, layer, context: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Output projection + residual + LayerNorm of the attention sub-layer: (B, N, D)."""
        return layer.attention.output(context, hidden)

    def feed_forward(self, layer, attended: torch.Tensor) -> torch.Tensor:
        return layer.feed_forward_chunk(attended)

    def run_attention(self, layer, hidden, mask, position_bias=None) -> torch.Tensor:
        """The attention sub-layer with the model's own kernel (SDPA or eager) under `mask`."""
        return layer.attention(hidden, mask)[0]

    def run_layer(self, layer, hidden, mask, position_bias=None, **kwargs) -> torch.Tensor:
        """The whole layer exactly as Hugging Face runs it."""
        return layer(hidden, mask, **kwargs)

    def position_bias(self, encoder, positions: torch.Tensor) -> torch.Tensor | None:
        """(B, H, N, N) additive attention bias for tokens at `positions` (B, N); None: no such bias."""
        return None

    def extra_outputs(self, kwargs: dict, states: list | None) -> dict:
        """Fields of the encoder's output beyond last_hidden_state (families that return hidden states from
        the encoder rather than through Hugging Face's output recorder)."""
        return {}

    def wants_hidden_states(self, kwargs: dict) -> bool:
        return False

    def check_method(self, hf_config, head: str | None, method) -> None:
        """Refuse a method this family's head cannot run under (ModernBERT's mean pooling); nothing here."""

    # --- shapes -----------------------------------------------------------------------------------------
    def dims(self, hf_config) -> tuple[int, int, int, int]:
        """(hidden, ffn, layers, heads)."""
        return (hf_config.hidden_size, hf_config.intermediate_size, hf_config.num_hidden_layers,
                hf_config.num_attention_heads)

    def max_length(self, hf_config) -> int:
        """Tokens one input may hold ([CLS]/[SEP] included): the position table minus reserved rows."""
        return (getattr(hf_config, "max_position_embeddings", None) or 512) - self.position_offset

    def embedding_flops(self, hf_config, n: int) -> int:
        """Matmul FLOPs between the embedding lookup and the first layer (0: a lookup and a sum)."""
        return 0

    def input_names(self) -> tuple[str, ...]:
        return ("input_ids", "attention_mask", "token_type_ids")


class RobertaLike(BertLike):
    """RoBERTa, XLM-RoBERTa, CamemBERT: BERT's layer; positions start after padding_idx (514 rows hold 512
    tokens); the classification head is dense + out_proj on <s> (no pooler)."""

    model_types = ("roberta", "xlm-roberta", "camembert")
    head_prefixes = ("classifier.",)
    position_offset = 2

    def input_names(self) -> tuple[str, ...]:
        return ("input_ids", "attention_mask")


class ElectraLike(BertLike):
    """ELECTRA's discriminator: BERT's layer, a dense + out_proj head on [CLS] (no pooler)."""

    model_types = ("electra",)
    head_prefixes = ("classifier.",)

    def embedding_flops(self, hf_config, n: int) -> int:
        """ELECTRA-small and kin project embeddings (E) up to the hidden size (D) before the first layer."""
        e, d = getattr(hf_config, "embedding_size", hf_config.hidden_size), hf_config.hidden_size
        return 2 * n * e * d if e != d else 0
