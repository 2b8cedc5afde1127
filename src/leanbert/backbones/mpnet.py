"""MPNet: BERT's residual layout under other names (attention.attn.{q,k,v,o}, attention.LayerNorm,
intermediate, output) plus a relative position bias shared by all layers, which the encoder computes from
token positions and every layer adds to its attention logits. Eager attention only (Hugging Face has no
SDPA path for MPNet).

Positions under reduction (the rule, docs/methods.md "Backbones"): a kept token keeps its original position,
so the bias between two survivors is exactly the one the dense model uses between them; a merged token
(FCA's coarse token, ToMe) sits at the mean original position of what it merged, weighted as its hidden state
is (rounded to the nearest integer for the bucket lookup). Padding sits after the real tokens, as in
Hugging Face, whose bias uses 0..N-1 for every row.
"""
from __future__ import annotations


from .adapter import BertLike

HF_BUCKETS = 32  # MPNetEncoder.compute_position_bias's default, which Hugging Face always uses


class MPNetLike(BertLike):
    model_types = ("mpnet",)
    head_prefixes = ("classifier.",)
    attn_implementations = ("eager",)
    carries_positions = True
    position_offset = 2  # positions start after padding_idx (1), as in RoBERTa

    def self_attention(self, layer):
        return layer.attention.attn

    def qkv_projections(self, layer):
        sa = layer.attention.attn
        return sa.q, sa.k, sa.v

    def output_weight(self, layer):
        return layer.attention.attn.o.weight

    def attention_output(self, layer, context, hidden):
        att = layer.attention
        return att.LayerNorm(att.dropout(att.attn.o(context)) + hidden)

    def feed_forward(self, layer, attended):
        return layer.output(layer.intermediate(attended), attended)

    def run_attention(self, layer, hidden, mask, position_bias=None):
        return layer.attention(hidden, mask, position_bias=position_bias)[0]

    def run_layer(self, layer, hidden, mask, position_bias=None, **kwargs):
        return layer(hidden, mask, position_bias=position_bias)[0]

    def position_bias(self, encoder, positions):
        """(B, H, N, N): the encoder's bucketed relative position bias between tokens at `positions` (B, N)."""
        rounded = positions.round().long()
        relative = rounded[:, None, :] - rounded[:, :, None]  # (B, Nq, Nk): key position - query position
        bucket = encoder.relative_position_bucket(relative, num_buckets=HF_BUCKETS)
        return encoder.relative_attention_bias(bucket).permute(0, 3, 1, 2)  # (B, H, Nq, Nk)

    def wants_hidden_states(self, kwargs):
        return bool(kwargs.get("output_hidden_states"))

    def extra_outputs(self, kwargs, states):
        return {"hidden_states": tuple(states)} if states is not None and self.wants_hidden_states(kwargs) else {}
