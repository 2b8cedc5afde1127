"""DistilBERT: model.distilbert.transformer.layer[i] (TransformerBlock) with attention.{q,k,v,out}_lin,
sa_layer_norm, ffn and output_layer_norm; no token_type_ids; head: pre_classifier + classifier on [CLS]."""
from __future__ import annotations

from .adapter import BertLike


class DistilBertLike(BertLike):
    model_types = ("distilbert",)
    head_prefixes = ("pre_classifier.", "classifier.")

    def encoder(self, model):
        return getattr(getattr(model, "base_model", model), "transformer", None)

    def embeddings(self, model, input_ids):
        return model.base_model.embeddings(input_ids)

    def self_attention(self, layer):
        return layer.attention

    def qkv_projections(self, layer):
        sa = layer.attention
        return sa.q_lin, sa.k_lin, sa.v_lin

    def output_weight(self, layer):
        return layer.attention.out_lin.weight

    def attention_output(self, layer, context, hidden):
        return layer.sa_layer_norm(layer.attention.out_lin(context) + hidden)

    def feed_forward(self, layer, attended):
        return layer.output_layer_norm(layer.ffn(attended) + attended)

    def run_attention(self, layer, hidden, mask, position_bias=None):
        return layer.sa_layer_norm(layer.attention(hidden, attention_mask=mask)[0] + hidden)

    def run_layer(self, layer, hidden, mask, position_bias=None, **kwargs):
        return layer(hidden, mask, **kwargs)

    def dims(self, hf_config):
        return hf_config.dim, hf_config.hidden_dim, hf_config.n_layers, hf_config.n_heads

    def input_names(self):
        return ("input_ids", "attention_mask")
