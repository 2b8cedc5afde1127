"""The encoder loop, backbone-neutral: what it needs of a family's internals it asks that family's adapter
(backbones/, the only code that knows module names).

`install` replaces the forward of one encoder instance (never a class, never the top-level model)
with a loop that, at layers whose plan keeps fewer tokens than it has, runs the attention sub-layer
explicitly (in query blocks) to get the attention statistics its scores need, lets the method score and shrink
the sequence, and runs the feed-forward block on the shorter sequence. Every other layer is called unchanged,
with the model's own attention implementation (SDPA by default). Pinned by tests/test_parity.py (no reduction
equals Hugging Face) and tests/test_reference.py (the reduced path equals a naive per-example reference).
"""
from __future__ import annotations

import dataclasses
import functools

import torch
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions

from .. import backbones
from ..data import syntax
from ..errors import ConfigError
from . import call_kwargs
from .call_kwargs import PER_CALL_KWARG, REDUCTIONS_KWARG, SCORES_KWARG
from .attention import attention_with_kernel, attention_with_stats
from .masks import hf_mask, key_mask_from_hf, pair_mask, proportional_mask
from .outputs import hidden_states_wanted, record_hidden_states

METHOD_ATTR = "_leanbert_method"
BACKBONE_ATTR = "_leanbert_backbone"  # the family's adapter, set on the encoder by find_encoder
CONFIG_ATTR = "_leanbert_hf_config"  # the model's config (DistilBERT's encoder has none of its own)
HEAD_ATTR = "_leanbert_head"  # the class name of the model around the encoder, for check_head on per-call configs
# Heads that answer per token: given only the kept tokens, their outputs could not be mapped back to the input.
PER_TOKEN_HEADS = ("ForTokenClassification", "ForMaskedLM", "ForQuestionAnswering", "ForPreTraining", "ForCausalLM",
                   "LMHeadModel")
def find_encoder(model: torch.nn.Module):
    """The encoder (the module holding the layer list) of a base model or of a head model of any supported
    family; its adapter and the model's config are recorded on it for the loop."""
    adapter = backbones.for_model(model)
    encoder = adapter.encoder(model)
    if encoder is None or adapter.layers(encoder) is None:
        raise ConfigError(f"leanbert found no encoder layer list in {type(model).__name__} "
                          f"(family {model.config.model_type!r})")
    if getattr(model.config, "is_decoder", False):
        raise ConfigError("leanbert reduces tokens in bidirectional encoders; this model is a decoder")
    encoder.__dict__[BACKBONE_ATTR] = adapter
    encoder.__dict__[CONFIG_ATTR] = model.config
    return encoder


def backbone_of(encoder):
    """The adapter recorded by find_encoder (BERT's for an encoder found some other way)."""
    return encoder.__dict__.get(BACKBONE_ATTR) or backbones.FAMILIES["bert"]


def layers_of(encoder):
    return backbone_of(encoder).layers(encoder)


def _hf_config(encoder):
    return encoder.__dict__.get(CONFIG_ATTR) or encoder.config


def check_head(head: str | None, method) -> None:
    """Refuse a token-reducing method under a per-token head (`head`: the model's class name)."""
    if method.reduces_tokens and head is not None and head.endswith(PER_TOKEN_HEADS):
        raise ConfigError(f"{head} answers per token, and token reduction ({method.config.method}) keeps only some "
                          "tokens: its outputs could not be mapped back to the input; use a sequence-level head "
                          "(e.g. BertForSequenceClassification) or a sparse attention config, which keeps every token")


def install(encoder, method, head: str | None = None) -> None:
    check_head(head, method)
    backbone_of(encoder).check_method(_hf_config(encoder), head, method)
    setattr(encoder, METHOD_ATTR, method)
    setattr(encoder, HEAD_ATTR, head)
    # A partial of a module-level function pickles and deep-copies (a bound method in the instance __dict__
    # cannot be unpickled: pickle looks it up by name on the instance).
    if backbone_of(encoder).takes_input_ids:  # no encoder module: the base model's forward is taken over
        from .base_forward import reduced_base_forward

        encoder.forward = functools.partial(reduced_base_forward, encoder)
    else:
        encoder.forward = functools.partial(reduced_encoder_forward, encoder)


def uninstall(encoder) -> None:
    encoder.__dict__.pop("forward", None)
    encoder.__dict__.pop(METHOD_ATTR, None)
    encoder.__dict__.pop(HEAD_ATTR, None)
    encoder.__dict__.pop(BACKBONE_ATTR, None)
    encoder.__dict__.pop(CONFIG_ATTR, None)


def installed_method(encoder):
    return getattr(encoder, METHOD_ATTR, None)


def _attention_sublayer(config, backbone, method, index, layer, hidden, key_mask, mask, position_bias):
    """The attention sub-layer where no scores are needed: the banded kernel when the pattern allows it,
    else the model's own kernel with the pattern (or the plain padding mask) as its mask."""
    kernel = _banded_kernel(backbone, method, index, hidden.shape[1])
    if kernel is not None:
        return attention_with_kernel(layer, hidden, key_mask, kernel, backbone)
    allowed = method.allowed_pairs(index, key_mask, hidden)  # (B, N, N) or None
    layer_mask = mask if allowed is None else pair_mask(config, allowed, hidden.dtype)
    return backbone.run_attention(layer, hidden, layer_mask, position_bias)


def _banded_kernel(backbone, method, index: int, n: int):
    """The banded kernel of a sparse pattern, where the family's attention has no bias the kernel would miss
    (MPNet's relative position bias: its patterns run as masks instead)."""
    if backbone.carries_positions or not method.patterned(index):
        return None
    return method.attention_kernel(index, n)


@dataclasses.dataclass
class LoopState:
    """What the loop carries from layer to layer within one call (nothing of it outlives the call)."""

    hidden: torch.Tensor  # (B, N, D)
    key_mask: torch.Tensor  # (B, N) bool, real tokens
    mask: object  # the mask the model's own attention takes for the current length
    sizes: torch.Tensor | None = None  # (B, N) tokens merged into each (proportional attention), or None
    positions: torch.Tensor | None = None  # (B, N) original positions, for families whose attention reads them
    bias: torch.Tensor | None = None  # (B, H, N, N) the family's position bias at those positions, or None


def reduced_encoder_forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None,
                            encoder_attention_mask=None, past_key_values=None, use_cache=None, **kwargs):
    kwargs = call_kwargs.carried(self, kwargs)
    method = _method_for_call(self, kwargs.pop(PER_CALL_KWARG, None))
    syntax_hops = kwargs.pop(syntax.KWARG, None)  # (B, N, N) parse distances: the syntax pattern's input
    record = kwargs.pop(SCORES_KWARG, None)
    reductions = kwargs.pop(REDUCTIONS_KWARG, None)
    plan = method.plan(hidden_states.shape[1])
    backbone, config = backbone_of(self), _hf_config(self)
    key_mask = key_mask_from_hf(attention_mask, hidden_states)  # (B, N)
    positions = _start_positions(backbone, key_mask, hidden_states.dtype)  # (B, N) or None
    state = LoopState(hidden_states, key_mask, attention_mask, positions=positions,
                      bias=None if positions is None else backbone.position_bias(self, positions))  # (B, H, N, N)
    states = [] if hidden_states_wanted(kwargs) or backbone.wants_hidden_states(kwargs) else None
    for index, (layer, n_keep) in enumerate(zip(backbone.layers(self), plan)):
        if states is not None:
            states.append(state.hidden)  # the input of layer `index`: the embeddings, then each layer's output
        reduces = method.scores_layer(index, state.hidden.shape[1], n_keep)
        recorded = record is not None and method.scores_from_attention and not method.patterned(index)
        if reduces or recorded:
            _scoring_layer(self, config, backbone, method, index, layer, state, n_keep if reduces else None,
                           record if recorded else None, reductions)
        else:
            state.hidden = _plain_layer(config, backbone, method, index, layer, state.hidden, state.key_mask, state.mask,
                                        state.bias, syntax_hops, kwargs)
    if states is not None:
        states.append(state.hidden)
        if hidden_states_wanted(kwargs):
            record_hidden_states(states)
    return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=state.hidden,
                                                     **backbone.extra_outputs(kwargs, states))


def _method_for_call(encoder, per_call):
    """The installed method, or the one of a per-call config (`leanbert_config=`), checked against the model."""
    if per_call is None:
        return installed_method(encoder)
    from .config import ReductionConfig
    from .registry import build_method

    if not isinstance(per_call, ReductionConfig):  # e.g. a dict: say which argument, not an AttributeError
        raise ConfigError(f"invalid config field '{PER_CALL_KWARG}': needs a leanbert config object (e.g. "
                          f"ACCConfig, or config_from_dict(...)), got {type(per_call).__name__}")
    method = build_method(per_call)
    check_head(getattr(encoder, HEAD_ATTR, None), method)
    backbone_of(encoder).check_method(_hf_config(encoder), getattr(encoder, HEAD_ATTR, None), method)
    if per_call.num_layers != len(layers_of(encoder)):
        raise ConfigError(f"invalid config field '{PER_CALL_KWARG}': has {per_call.num_layers} layers, "
                          f"the model {len(layers_of(encoder))}")
    return method


def _scoring_layer(encoder, config, backbone, method, index, layer, state: LoopState, n_keep, record,
                   reductions=None) -> None:
    """A layer that scores its tokens: the attention sub-layer with statistics (or the method's own sub-layer),
    the scores appended to `record` (when given), then (`n_keep` not None) the reduction, recorded in
    `reductions` (when given), and the feed-forward block on the shorter sequence."""
    if method.scores_from_attention:
        band = method.band(index, state.hidden.shape[1]) if not backbone.carries_positions else None
        allowed = None if band else method.allowed_pairs(index, state.key_mask, state.hidden)  # a composed pattern
        attended, stats, values = attention_with_stats(layer, state.hidden, state.key_mask, allowed=allowed, band=band,
                                                       backbone=backbone, position_bias=state.bias)
        scores = method.score(stats, state.key_mask, values, backbone.output_weight(layer))  # (B, N)
    else:
        attended = _attention_sublayer(config, backbone, method, index, layer, state.hidden, state.key_mask,
                                       state.mask, state.bias)
        scores = None
    if record is not None:
        record.append((scores, state.key_mask))
    if n_keep is None:  # scored for the record only: every token goes on
        state.hidden = backbone.feed_forward(layer, attended)
        return
    before = (attended, state.key_mask, state.sizes)
    if state.positions is None:
        attended, state.key_mask, state.sizes = method.reduce(attended, state.key_mask, scores, n_keep, index,
                                                              state.sizes)  # (B, N', D)
    else:
        attended, state.key_mask, state.sizes, state.positions = method.reduce_carrying(
            attended, state.positions, state.key_mask, scores, n_keep, index, state.sizes)
        state.bias = backbone.position_bias(encoder, state.positions)
    if reductions is not None:
        reductions.append((index, before, (attended, state.key_mask, state.sizes)))
    state.hidden = method.finish_layer(backbone.feed_forward(layer, attended), state.sizes)  # (B, N', D)
    use_sizes = state.sizes is not None and method.uses_sizes()
    state.mask = (proportional_mask(state.key_mask, state.sizes, state.hidden.dtype) if use_sizes
                  else hf_mask(config, state.hidden, state.key_mask))


def _start_positions(backbone, key_mask: torch.Tensor, dtype) -> torch.Tensor | None:
    """(B, N) original positions 0..N-1 as floats (merged tokens take weighted means), for families whose
    attention depends on positions; None for the others. At least float32 whatever the model's dtype: bf16 holds
    integers exactly only up to 256 (fp16 to 2048), so a half-precision model would shift long inputs' tokens."""
    if not backbone.carries_positions:
        return None
    b, n = key_mask.shape
    return torch.arange(n, device=key_mask.device, dtype=torch.promote_types(dtype, torch.float32)).expand(b, n)


def _plain_layer(config, backbone, method, index, layer, hidden, key_mask, mask, bias, syntax_hops, kwargs):
    """A layer that keeps every token: as Hugging Face runs it, under the method's pattern if it has one."""
    patterned = method.patterned(index)
    kernel = _banded_kernel(backbone, method, index, hidden.shape[1])
    if kernel is not None:  # banded sparse attention: skips the masked work
        return backbone.feed_forward(layer, attention_with_kernel(layer, hidden, key_mask, kernel, backbone))
    allowed = method.allowed_pairs(index, key_mask, hidden, syntax_hops) if patterned else None
    layer_mask = mask if allowed is None else pair_mask(config, allowed, hidden.dtype)
    soft = method.attention_bias(index, key_mask, hidden.dtype) if patterned else None
    layer_mask = layer_mask if soft is None else soft  # a learned soft band (methods/sparse/learned_band.py)
    return backbone.run_layer(layer, hidden, layer_mask, position_bias=bias, **kwargs)  # (B, N, D)
