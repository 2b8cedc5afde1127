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

import functools

import torch
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions
from transformers.utils import output_capturing

from .. import backbones
from ..core import banded, scoring
from ..data import syntax
from ..errors import ConfigError

METHOD_ATTR = "_leanbert_method"
BACKBONE_ATTR = "_leanbert_backbone"  # the family's adapter, set on the encoder by find_encoder
CONFIG_ATTR = "_leanbert_hf_config"  # the model's config (DistilBERT's encoder has none of its own)
HEAD_ATTR = "_leanbert_head"  # the class name of the model around the encoder, for check_head on per-call configs
# Heads that answer per token: given only the kept tokens, their outputs could not be mapped back to the input.
PER_TOKEN_HEADS = ("ForTokenClassification", "ForMaskedLM", "ForQuestionAnswering", "ForPreTraining", "ForCausalLM",
                   "LMHeadModel")
PER_CALL_KWARG = "leanbert_config"  # model(**batch, leanbert_config=cfg) overrides the applied config for one call
# model(**batch, leanbert_scores=[]) appends (scores (B, N), key_mask (B, N)) of every layer to the list: the
# per-call state the elastic recipe's ranking distillation reads (layers that keep every token score too)
SCORES_KWARG = "leanbert_scores"


def find_encoder(model: torch.nn.Module):
    """The encoder (the module holding the layer list) of a base model or of a head model of any supported
    family; its adapter and the model's config are recorded on it for the loop."""
    adapter = backbones.for_model(model)
    encoder = adapter.encoder(model)
    if encoder is None or not hasattr(encoder, "layer"):
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
    setattr(encoder, METHOD_ATTR, method)
    setattr(encoder, HEAD_ATTR, head)
    # A partial of a module-level function pickles and deep-copies (a bound method in the instance __dict__
    # cannot be unpickled: pickle looks it up by name on the instance).
    encoder.forward = functools.partial(reduced_encoder_forward, encoder)


def uninstall(encoder) -> None:
    encoder.__dict__.pop("forward", None)
    encoder.__dict__.pop(METHOD_ATTR, None)
    encoder.__dict__.pop(HEAD_ATTR, None)
    encoder.__dict__.pop(BACKBONE_ATTR, None)
    encoder.__dict__.pop(CONFIG_ATTR, None)


def installed_method(encoder):
    return getattr(encoder, METHOD_ATTR, None)


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


def project_heads(layer, hidden: torch.Tensor, backbone=None):
    """The layer's query, key and value projections, each (B, H, N, Dh)."""
    backbone = backbone or backbones.FAMILIES["bert"]
    b, n, _ = hidden.shape
    dh = backbone.head_size(layer)
    return tuple(f(hidden).view(b, n, -1, dh).transpose(1, 2) for f in backbone.qkv_projections(layer))


def attention_with_kernel(layer, hidden: torch.Tensor, key_mask: torch.Tensor, kernel, backbone=None) -> torch.Tensor:
    """The attention sub-layer with its core (softmax(QK^T)V) replaced by `kernel` (e.g. banded attention)."""
    backbone = backbone or backbones.FAMILIES["bert"]
    b, n, _ = hidden.shape
    q, k, v = project_heads(layer, hidden, backbone)
    context = kernel(q, k, v, key_mask, scale=backbone.scaling(layer)).transpose(1, 2).reshape(b, n, -1)  # (B, N, D)
    return backbone.attention_output(layer, context, hidden)


QUERY_CHUNK = 64  # queries per block in scoring layers: (B*H, 64, N) probabilities at a time


def pattern_bias(allowed: torch.Tensor, heads: int, dtype) -> torch.Tensor:
    """(B, c, N) or per-head (B, H, c, N) bool -> (B*H, c, N) additive: 0 where allowed, the dtype's
    minimum elsewhere."""
    bias = (allowed.to(dtype) - 1) * torch.finfo(dtype).max
    return bias.flatten(0, 1) if bias.dim() == 4 else bias.repeat_interleave(heads, dim=0)


def attention_with_stats(layer, hidden: torch.Tensor, key_mask: torch.Tensor, chunk: int = QUERY_CHUNK,
                         allowed: torch.Tensor | None = None, band: banded.Band | None = None, backbone=None,
                         position_bias: torch.Tensor | None = None):
    """The attention sub-layer (self-attention + output projection + residual LayerNorm) computed explicitly,
    so that the statistics the scores need come out. Returns output (B, N, D), AttentionStats, values
    (B, H, N, Dh). `position_bias` (B, H, N, N): added to the logits (MPNet's relative position bias).

    Queries are processed in blocks: each block's probabilities (B*H, c, keys) are made, used for the context
    and folded into the per-key sums, then dropped, so the (B, H, N, N) matrix never exists (at 512 tokens,
    batch 32, it is 400 MB and made a scoring layer about 3x slower than SDPA; blocked, about 1.6x). Blocks
    come from `_full_blocks` (every key, `chunk` queries at a time; one block with a symbolic length, for
    export; `allowed` (B, N, N), a sparse pattern in patterns.finalize form, restricts each query's keys) or
    from `_band_blocks` (`band`: a neighbour pattern, each query block scoring only the keys in its window).
    """
    backbone = backbone or backbones.FAMILIES["bert"]
    b, n, _ = hidden.shape
    dh, scaling, dropout = backbone.head_size(layer), backbone.scaling(layer), backbone.attention_dropout(layer)
    q, k, v = (x.reshape(-1, n, dh) for x in project_heads(layer, hidden, backbone))  # (B*H, N, Dh)
    h = q.shape[0] // b
    flat_bias = None if position_bias is None else position_bias.reshape(b * h, n, n)  # (B*H, N, N)
    real = key_mask.to(q.dtype).repeat_interleave(h, dim=0)[:, None, :]  # (B*H, 1, N)
    blocks = (_band_blocks(n, band, key_mask, h, q.dtype) if band is not None
              else _full_blocks(n, chunk, real, allowed, h, q.dtype))
    contexts, selfs, received = [], [], torch.zeros_like(real)
    for start, stop, keys, bias, every_key in blocks:
        if flat_bias is not None:
            bias = bias + flat_bias[:, start:stop][:, :, keys]  # (B*H, c, keys)
        probs = torch.baddbmm(bias, q[:, start:stop], k[:, keys].transpose(1, 2), alpha=scaling).softmax(dim=-1)
        contexts.append(torch.bmm(dropout(probs), v[:, keys]))  # (B*H, c, Dh)
        if every_key:  # + the sum over this block's real queries, fused into one GEMM
            received = torch.baddbmm(received, real[:, :, start:stop], probs)  # (B*H, 1, N)
        else:  # a window of keys: scatter the sums to their positions
            positions = banded.key_positions_of(keys, hidden.device)
            received = received.index_add(2, positions, torch.bmm(real[:, :, start:stop], probs))
        if isinstance(keys, slice):  # contiguous keys: each query's own key lies on a diagonal
            selfs.append(torch.diagonal(probs[:, :, start - keys.start:stop - keys.start], dim1=1, dim2=2))  # (B*H, c)
        else:  # [CLS] + a window
            own = torch.searchsorted(keys, torch.arange(start, stop, device=hidden.device))
            selfs.append(probs.gather(2, own[None, :, None].expand(probs.shape[0], -1, 1))[..., 0])  # (B*H, c)
    context = torch.cat(contexts, dim=1).view(b, h, n, dh).transpose(1, 2).reshape(b, n, -1)  # (B, N, D)
    self_attention = torch.cat(selfs, dim=1).view(b, h, n) * key_mask[:, None, :]
    stats = scoring.AttentionStats(received.view(b, h, n), self_attention)
    return backbone.attention_output(layer, context, hidden), stats, v.view(b, h, n, dh)


def _full_blocks(n, chunk: int, real: torch.Tensor, allowed, heads: int, dtype):
    """(start, stop, keys, bias, every key?) per query block over every key; bias (B*H, 1 or c, N) masks pads
    (and the pattern)."""
    pad_bias = (real - 1) * torch.finfo(dtype).max  # (B*H, 1, N): 0 for real keys, the dtype's minimum for pads
    starts = [0] if isinstance(n, torch.SymInt) else range(0, n, chunk)
    for start in starts:
        stop = n if isinstance(n, torch.SymInt) else min(n, start + chunk)
        yield start, stop, slice(0, n), pad_bias if allowed is None else pattern_bias(allowed[:, start:stop], heads, dtype), True


def _band_blocks(n: int, band: banded.Band, key_mask: torch.Tensor, heads: int, dtype):
    """(start, stop, keys, bias, every key?) per query block of a neighbour pattern: only its window's keys."""
    for blk in banded.query_blocks(n, band.width, band.global_first, device=key_mask.device):
        allowed = banded.block_allowed(blk, band.width, band.global_first, key_mask, band.head_widths)  # (B[, H], c, L)
        yield blk.start, blk.stop, blk.keys, pattern_bias(allowed, heads, dtype), False


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


def reduced_encoder_forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None,
                            encoder_attention_mask=None, past_key_values=None, use_cache=None, **kwargs):
    per_call = kwargs.pop(PER_CALL_KWARG, None)
    syntax_hops = kwargs.pop(syntax.KWARG, None)  # (B, N, N) parse distances: the syntax pattern's input
    record = kwargs.pop(SCORES_KWARG, None)
    method = installed_method(self)
    if per_call is not None:
        from .config import ReductionConfig
        from ..methods import build_method

        if not isinstance(per_call, ReductionConfig):  # e.g. a dict: say which argument, not an AttributeError
            raise ConfigError(f"invalid config field '{PER_CALL_KWARG}': needs a leanbert config object (e.g. "
                              f"ACCConfig, or config_from_dict(...)), got {type(per_call).__name__}")
        method = build_method(per_call)
        check_head(getattr(self, HEAD_ATTR, None), method)
        if per_call.num_layers != len(self.layer):
            raise ConfigError(f"invalid config field '{PER_CALL_KWARG}': has {per_call.num_layers} layers, "
                              f"the model {len(self.layer)}")
    plan = method.plan(hidden_states.shape[1])
    key_mask = key_mask_from_hf(attention_mask, hidden_states)  # (B, N)
    backbone, config = backbone_of(self), _hf_config(self)
    mask, sizes = attention_mask, None
    positions = _start_positions(backbone, key_mask, hidden_states.dtype)  # (B, N) or None
    bias = None if positions is None else backbone.position_bias(self, positions)  # (B, H, N, N) or None
    states = [] if _hidden_states_wanted(kwargs) or backbone.wants_hidden_states(kwargs) else None
    for index, (layer, n_keep) in enumerate(zip(self.layer, plan)):
        if states is not None:
            states.append(hidden_states)  # the input of layer `index`: the embeddings, then each layer's output
        reduces = method.scores_layer(index, hidden_states.shape[1], n_keep)
        recorded = record is not None and method.scores_from_attention and not method.patterned(index)
        if not reduces and not recorded:
            hidden_states = _plain_layer(config, backbone, method, index, layer, hidden_states, key_mask, mask, bias,
                                         syntax_hops, kwargs)
            continue
        band = method.band(index, hidden_states.shape[1]) if not backbone.carries_positions else None
        if method.scores_from_attention:
            allowed = None if band else method.allowed_pairs(index, key_mask, hidden_states)  # a composed pattern
            attended, stats, values = attention_with_stats(layer, hidden_states, key_mask, allowed=allowed, band=band,
                                                           backbone=backbone, position_bias=bias)
            scores = method.score(stats, key_mask, values, backbone.output_weight(layer))  # (B, N)
        else:
            attended = _attention_sublayer(config, backbone, method, index, layer, hidden_states, key_mask, mask, bias)
            scores = None
        if recorded:
            record.append((scores, key_mask))
        if not reduces:  # scored for the record only: every token goes on
            hidden_states = backbone.feed_forward(layer, attended)
            continue
        if positions is None:
            attended, key_mask, sizes = method.reduce(attended, key_mask, scores, n_keep, index, sizes)  # (B, N', D)
        else:
            attended, key_mask, sizes, positions = method.reduce_carrying(attended, positions, key_mask, scores, n_keep,
                                                                          index, sizes)
            bias = backbone.position_bias(self, positions)
        hidden_states = method.finish_layer(backbone.feed_forward(layer, attended), sizes)  # (B, N', D)
        use_sizes = sizes is not None and method.uses_sizes()
        mask = (proportional_mask(key_mask, sizes, hidden_states.dtype) if use_sizes
                else hf_mask(config, hidden_states, key_mask))
    if states is not None:
        states.append(hidden_states)
        if _hidden_states_wanted(kwargs):
            _record_hidden_states(states)
    return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=hidden_states,
                                                     **backbone.extra_outputs(kwargs, states))


def _start_positions(backbone, key_mask: torch.Tensor, dtype) -> torch.Tensor | None:
    """(B, N) original positions 0..N-1 as floats (merged tokens take weighted means), for families whose
    attention depends on positions; None for the others."""
    if not backbone.carries_positions:
        return None
    b, n = key_mask.shape
    return torch.arange(n, device=key_mask.device, dtype=dtype).expand(b, n)


def _plain_layer(config, backbone, method, index, layer, hidden, key_mask, mask, bias, syntax_hops, kwargs):
    """A layer that keeps every token: as Hugging Face runs it, under the method's pattern if it has one."""
    patterned = method.patterned(index)
    kernel = _banded_kernel(backbone, method, index, hidden.shape[1])
    if kernel is not None:  # banded sparse attention: skips the masked work
        return backbone.feed_forward(layer, attention_with_kernel(layer, hidden, key_mask, kernel, backbone))
    allowed = method.allowed_pairs(index, key_mask, hidden, syntax_hops) if patterned else None
    layer_mask = mask if allowed is None else pair_mask(config, allowed, hidden.dtype)
    soft = method.attention_bias(index, key_mask, hidden.dtype) if patterned else None
    layer_mask = layer_mask if soft is None else soft  # a learned soft band (learned_band.py)
    return backbone.run_layer(layer, hidden, layer_mask, position_bias=bias, **kwargs)  # (B, N, D)


# Hugging Face collects `output_hidden_states` / `output_attentions` with forward hooks on BertLayer and
# BertSelfAttention, which reducing layers bypass (they run the sub-layers themselves): left alone, a patched
# model would return hidden states for some layers only, misnumbered. So the loop records every layer's
# hidden states itself into Hugging Face's collector, and refuses attentions (below).


def _hidden_states_wanted(kwargs) -> bool:
    """Whether Hugging Face's output recorder collects hidden states in this call; refuses attentions."""
    collecting = output_capturing._active_collector.get() or {}
    if "attentions" in collecting or kwargs.get("output_attentions"):
        raise ConfigError("output_attentions is not available on a leanbert-patched model: reducing and sparse "
                          "layers never build the attention matrix; the dense model gives them "
                          "(leanbert.remove(model), or `with leanbert.engine.api.applied(model, None):`)")
    return "hidden_states" in collecting


def _record_hidden_states(states: list) -> None:
    """Put the embeddings and every layer's output (B, N_l, D), at the length each has after its layer, where
    Hugging Face returns them from; indices that `output_hidden_states` did not select stay None, as in HF."""
    collecting = output_capturing._active_collector.get()
    selected = collecting.get("_hidden_states_layers")
    collecting["hidden_states"][:] = [h if selected is None or i in selected else None for i, h in enumerate(states)]
