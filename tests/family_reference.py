"""The naive reference (tests/reference.py) for the other backbone families, written from each family's
definition in Hugging Face's modeling files, not from leanbert's adapters.

One example at a time at its own length, full attention matrices, plain loops. The selection and merging
rules are reference.py's; what differs per family is the layer (module names, where the LayerNorms sit) and,
for MPNet, the relative position bias: every token carries its original position; a kept token keeps it, a
merged token takes the mean of its members' positions under the weights its hidden state was merged with
(FCA: the chunk's merge weights normalised to 1; ToMe: sizes), rounded to the nearest integer for the bucket.
ModernBERT (pre-norm, gated feed-forward, a final norm): the same positions, not rounded, rotate queries and keys
(rotary embeddings), and its sliding-window layers allow |p_i - p_j| <= sliding_window between them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import reference


def _ln(x, norm):
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


def _lin(x, f):
    return F.linear(x, f.weight, f.bias)


def parts(family: str, layer) -> dict:
    """The layer's pieces by their Hugging Face names: q, k, v, o projections, the two norms, the FFN."""
    if family == "distilbert":
        a = layer.attention
        return dict(q=a.q_lin, k=a.k_lin, v=a.v_lin, o=a.out_lin, ln1=layer.sa_layer_norm, up=layer.ffn.lin1,
                    down=layer.ffn.lin2, ln2=layer.output_layer_norm, heads=a.n_heads)
    if family == "modernbert":  # only what the scores read: the output projection, the head count
        return dict(o=layer.attn.Wo, heads=layer.attn.config.num_attention_heads)
    if family == "mpnet":
        a = layer.attention.attn
        return dict(q=a.q, k=a.k, v=a.v, o=a.o, ln1=layer.attention.LayerNorm, up=layer.intermediate.dense,
                    down=layer.output.dense, ln2=layer.output.LayerNorm, heads=a.num_attention_heads)
    a = layer.attention.self  # BERT, RoBERTa, ELECTRA
    return dict(q=a.query, k=a.key, v=a.value, o=layer.attention.output.dense, ln1=layer.attention.output.LayerNorm,
                up=layer.intermediate.dense, down=layer.output.dense, ln2=layer.output.LayerNorm,
                heads=a.num_attention_heads)


def position_bias(encoder, positions: list[float]) -> torch.Tensor:
    """(H, n, n) MPNet's bias between tokens at `positions`: bucket(key - query) looked up per head."""
    p = torch.tensor([round(x) for x in positions])
    bucket = encoder.relative_position_bucket(p[None, :] - p[:, None], num_buckets=32)
    return encoder.relative_attention_bias.weight[bucket].permute(2, 0, 1)


def attention(p: dict, x: torch.Tensor, key_bias: torch.Tensor, pos_bias):
    n, d = x.shape
    h = p["heads"]
    q, k, v = (_lin(x, p[name]).view(n, h, d // h).transpose(0, 1) for name in "qkv")
    logits = q @ k.transpose(1, 2) / math.sqrt(d // h) + key_bias
    probs = torch.softmax(logits if pos_bias is None else logits + pos_bias, dim=-1)  # (H, n, n)
    context = (probs @ v).transpose(0, 1).reshape(n, d)
    return _ln(_lin(context, p["o"]) + x, p["ln1"]), probs, v


def feed_forward(p: dict, a: torch.Tensor) -> torch.Tensor:
    return _ln(_lin(F.gelu(_lin(a, p["up"])), p["down"]) + a, p["ln2"])


def _rotary(x: torch.Tensor, positions: list[float], inv_freq: torch.Tensor, scale: float) -> torch.Tensor:
    """x (H, n, Dh) rotated at `positions` as Hugging Face's ModernBERT does it: angles in float32 (position
    x inverse frequency, duplicated), rotate-half, q/k taken in float32 before the product."""
    angles = torch.tensor(positions, dtype=torch.float32)[:, None] * inv_freq.float()[None, :]  # (n, Dh/2)
    emb = torch.cat([angles, angles], dim=-1)
    cos, sin = (emb.cos() * scale).to(x.dtype), (emb.sin() * scale).to(x.dtype)
    xf = x.float()
    half = xf.shape[-1] // 2
    return ((xf * cos) + (torch.cat([-xf[..., half:], xf[..., :half]], dim=-1) * sin)).to(x.dtype)


def modern_attention(layer, x: torch.Tensor, key_bias: torch.Tensor, positions: list[float], rotary_emb):
    """ModernBERT's pre-norm attention sub-layer on one example: x + Wo(attention(norm(x))), the sliding window
    (|p_i - p_j| <= sliding_window) on its local layers, in original positions."""
    a = layer.attn
    n, d = x.shape
    dh = a.head_dim
    qkv = _lin(layer.attn_norm(x), a.Wqkv).view(n, 3, d // dh, dh)
    q, k, v = (qkv[:, i].transpose(0, 1) for i in range(3))  # (H, n, Dh)
    kind = layer.attention_type
    inv, scale = getattr(rotary_emb, f"{kind}_inv_freq"), getattr(rotary_emb, f"{kind}_attention_scaling")
    q, k = _rotary(q, positions, inv, scale), _rotary(k, positions, inv, scale)
    logits = q @ k.transpose(1, 2) / math.sqrt(dh) + key_bias
    if kind == "sliding_attention":
        p = torch.tensor(positions, dtype=x.dtype)
        logits = logits.masked_fill((p[:, None] - p[None, :]).abs() > a.config.sliding_window, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return x + _lin((probs @ v).transpose(0, 1).reshape(n, d), a.Wo), probs, v


def modern_feed_forward(layer, a: torch.Tensor) -> torch.Tensor:
    inner, gate = _lin(layer.mlp_norm(a), layer.mlp.Wi).chunk(2, dim=-1)
    return a + _lin(layer.mlp.act(inner) * gate, layer.mlp.Wo)


def encode(model, family: str, ids: list[int], config) -> torch.Tensor:
    """Final hidden states (m, D) of one example under `config` (None: dense)."""
    base = model.base_model
    x = base.embeddings(input_ids=torch.tensor([ids]))[0]
    layers = {"distilbert": lambda: base.transformer.layer, "modernbert": lambda: base.layers}.get(
        family, lambda: base.encoder.layer)()
    counts = reference.plan(config, len(ids)) if config is not None else [len(ids)] * len(layers)
    sizes, positions = [1.0] * len(ids), [float(i) for i in range(len(ids))]
    for layer, count in zip(layers, counts):
        p = parts(family, layer)
        pos_bias = position_bias(base.encoder, positions) if family == "mpnet" else None
        bias = torch.tensor(sizes, dtype=x.dtype).log() if config is not None and reference._proportional(config) \
            else torch.zeros(x.shape[0], dtype=x.dtype)
        if family == "modernbert":
            attended, probs, values = modern_attention(layer, x, bias, positions, base.rotary_emb)
        else:
            attended, probs, values = attention(p, x, bias, pos_bias)
        if config is not None and config.method in ("power", "acc", "fca"):
            attended, positions = _select(p, attended, probs, values, count, config, positions)
        elif config is not None and config.method == "tome":
            merged, new_sizes = reference.tome_merge(torch.cat([attended, torch.tensor(positions, dtype=x.dtype)[:, None]], 1),
                                                     sizes, reference.tome_count(len(sizes), count), passengers=1)
            attended, positions, sizes = merged[:, :-1], merged[:, -1].tolist(), new_sizes
        x = modern_feed_forward(layer, attended) if family == "modernbert" else feed_forward(p, attended)
    return base.final_norm(x) if family == "modernbert" else x


def _select(p, attended, probs, values, count, config, positions):
    n = attended.shape[0]
    coarse = config.coarse if config.method == "fca" else 0
    if count + coarse >= n:
        return attended, positions
    score = reference.scores(probs, values, p["o"].weight, config)
    keep = reference.top_tokens(score, count)
    groups = reference.chunks([j for j in range(n) if j not in keep], coarse)
    rows = [attended[j] for j in keep] + [reference.merge_chunk(attended, g, score, config) for g in groups]
    unit = _replace(config, divide_by_count=False)  # positions: the same weights, summing to 1
    pos = [positions[j] for j in keep] + [float(reference.merge_chunk(torch.tensor(positions)[:, None], g, score, unit))
                                          for g in groups]
    return torch.stack(rows), pos


def _replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes) if config.method == "fca" else config
