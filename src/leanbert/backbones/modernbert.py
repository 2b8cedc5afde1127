"""ModernBERT: pre-norm layers without an encoder module (model.model.layers[i] with attn_norm, attn.{Wqkv,Wo},
mlp_norm, mlp.{Wi,Wo} gated), rotary position embeddings, alternating global and sliding-window attention, a
final norm after the last layer; the classification head pools [CLS] or the mean of the tokens.

The rules under reduction (docs/methods.md "ModernBERT"):
- Positions: every token carries its original position (as for MPNet); a merged token sits at the weighted mean
  of what it merged (not rounded: rotary embeddings take any real position). Queries and keys are rotated at
  those positions, so the angle between two survivors is exactly the dense model's.
- Sliding-window layers: query i may attend key j when |p_i - p_j| <= sliding_window (Hugging Face's inclusive
  half window), measured in original positions: a shortened sequence never widens a layer's reach.
- The base model's forward is the one taken over (there is no encoder module): embeddings, the layer loop, then
  the final norm, as Hugging Face runs them.
- A mean-pooling head (`classifier_pooling="mean"`) averages the last hidden states under the input's
  attention mask, which no longer lines up once tokens are removed: token-reducing methods are refused under it
  (sparse patterns keep every token and run); [CLS] pooling runs, [CLS] being kept by every method.
FLOPs: the gated feed-forward costs 3 D x F matmuls per token where BERT's costs 2, so the FLOPs formulas take
an equivalent width of 1.5 F (`dims`).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .adapter import BertLike


@dataclasses.dataclass
class RotaryState:
    """What attention needs of the tokens' original positions, for the current sequence (made once per
    reduction, shared by every layer until the next)."""

    positions: torch.Tensor  # (B, N) float
    rotary: dict  # layer type -> (cos, sin), each (B, N, Dh)
    window: torch.Tensor | None  # (B, 1, N, N) additive: 0 within the sliding window, the minimum outside


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, N, Dh) rotated at the positions cos/sin (B, N, Dh) were made for (rotate-half convention)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x.float() * cos[:, None] + rotated.float() * sin[:, None]).to(x.dtype)


class ModernBertLike(BertLike):
    model_types = ("modernbert",)
    head_prefixes = ("classifier.", "head.")
    carries_positions = True
    takes_input_ids = True  # the base model's forward is taken over: it starts from ids, not hidden states
    norm_after_layers = True

    def encoder(self, model):
        return getattr(model, "base_model", model)

    def layers(self, encoder):
        return getattr(encoder, "layers", None)

    def embed(self, encoder, input_ids, inputs_embeds):
        return encoder.embeddings(input_ids=input_ids, inputs_embeds=inputs_embeds)

    def finish(self, encoder, hidden):
        return encoder.final_norm(hidden)

    def self_attention(self, layer):
        return layer.attn

    def head_size(self, layer):
        return layer.attn.head_dim

    def attention_dropout(self, layer):
        p, training = layer.attn.attention_dropout, layer.training
        return lambda probs: F.dropout(probs, p=p, training=training)

    def project(self, layer, hidden, position_bias=None):
        """(q, k, v), each (B, H, N, Dh): the fused projection of the normed input, q and k rotated."""
        b, n, _ = hidden.shape
        qkv = layer.attn.Wqkv(layer.attn_norm(hidden)).view(b, n, 3, -1, layer.attn.head_dim)
        q, k, v = (x.transpose(1, 2) for x in qkv.unbind(dim=2))
        cos, sin = position_bias.rotary[layer.attention_type]
        return _rotate(q, cos, sin), _rotate(k, cos, sin), v

    def logit_bias(self, layer, position_bias):
        """(B, 1, N, N) additive: the sliding window in original positions; None for global layers."""
        return None if layer.attn.sliding_window is None else position_bias.window

    def output_weight(self, layer):
        return layer.attn.Wo.weight

    def attention_output(self, layer, context, hidden):
        return hidden + layer.attn.out_drop(layer.attn.Wo(context))

    def feed_forward(self, layer, attended):
        return attended + layer.mlp(layer.mlp_norm(attended))

    def run_attention(self, layer, hidden, mask, position_bias=None):
        out, _ = layer.attn(layer.attn_norm(hidden), position_embeddings=position_bias.rotary[layer.attention_type],
                            attention_mask=self._layer_mask(layer, mask, hidden, position_bias))
        return hidden + out

    def run_layer(self, layer, hidden, mask, position_bias=None, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("output_hidden_states", "output_attentions")}
        return layer(hidden, attention_mask=self._layer_mask(layer, mask, hidden, position_bias),
                     position_embeddings=position_bias.rotary[layer.attention_type], **kwargs)

    def _layer_mask(self, layer, mask, hidden, position_bias):
        """The loop's mask for the current length (None, bool or additive) with the window added on sliding
        layers, in the format of the model's kernel (eager adds it to the logits: additive float)."""
        window = self.logit_bias(layer, position_bias)  # (B, 1, N, N) or None
        if window is None:
            return mask
        if mask is None:
            return window
        if mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape, dtype=hidden.dtype, device=hidden.device).masked_fill(
                ~mask, torch.finfo(hidden.dtype).min)
        # where, not masked_fill: a per-head mask (B, H, N, N) broadcasts against the window (B, 1, N, N)
        return torch.where(window < 0, torch.finfo(hidden.dtype).min, mask)

    def position_bias(self, encoder, positions):
        """Rotary angles and window from the (float32 or wider) positions, handed on in the model's dtype, as
        Hugging Face's rotary embedding hands on its cos/sin (computed in float32)."""
        kinds, dtype = set(encoder.config.layer_types), next(encoder.parameters()).dtype
        rotary = {kind: tuple(t.to(dtype) for t in encoder.rotary_emb(positions, positions, kind)) for kind in kinds}
        window = None
        if "sliding_attention" in kinds:
            outside = (positions[:, :, None] - positions[:, None, :]).abs() > encoder.config.sliding_window
            window = torch.zeros(outside.shape, dtype=dtype, device=positions.device).masked_fill(
                outside, torch.finfo(dtype).min)[:, None]  # (B, 1, Nq, Nk)
        return RotaryState(positions, rotary, window)

    def wants_hidden_states(self, kwargs):
        return bool(kwargs.get("output_hidden_states"))

    def extra_outputs(self, kwargs, states):
        return {"hidden_states": tuple(states)} if states is not None and self.wants_hidden_states(kwargs) else {}

    def check_method(self, hf_config, head, method):
        if (method.reduces_tokens and head is not None and head.endswith(("ForSequenceClassification", "ForMultipleChoice"))
                and getattr(hf_config, "classifier_pooling", "cls") == "mean"):
            raise ConfigError("invalid config field 'classifier_pooling': 'mean' averages the last hidden states under "
                              f"the input's attention mask, and token reduction ({method.config.method}) keeps only "
                              "some tokens; use classifier_pooling='cls' (or leanbert embed's pooling, which weighs "
                              "each token by what it stands for), or a sparse config, which keeps every token")

    def dims(self, hf_config):
        """(hidden, FLOPs-equivalent FFN width 1.5 F, layers, heads): the gated FFN is D x 2F in, F x D out."""
        return (hf_config.hidden_size, 3 * hf_config.intermediate_size / 2, hf_config.num_hidden_layers,
                hf_config.num_attention_heads)

    def max_length(self, hf_config):
        return getattr(hf_config, "max_position_embeddings", None) or 8192

    def input_names(self):
        return ("input_ids", "attention_mask")
