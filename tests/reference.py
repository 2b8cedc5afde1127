"""A naive reference for the reduced path, written from the definitions (docs/methods.md), not from the engine.

One example at a time at its own real length (no batch, no padding, no masks), the full (H, n, n) attention
matrix, plain Python loops over layers and tokens, every rule spelled out as the docs state it:

- plan: keep_counts as given, or ceil(n0 * fraction) with the fraction as an exact rational (denominator
  <= 10,000), floored at min_tokens; running minimum over layers, never above n0. A layer whose count is not
  below the example's current length keeps everything (so a row shorter than the count keeps all its tokens).
- PoWER-BERT: score = head-averaged attention a token receives from the other queries; keep [CLS] + the
  top (count - 1), in original order.
- ACC: score = head-averaged attention received (self included) / number of queries; `value_norm` weights
  each a_ij by ||v_j W_O^h||.
- FCA: fine tokens as PoWER-BERT; the other tokens, in order, cut into k contiguous chunks (position * k //
  |U|), each merged by its mean or by the softmax of its scores, appended after the fine tokens. A layer
  reduces only when count + k is below the current length.
- ToMe: after the attention sub-layer, even positions form A, odd B; each A token points at its most
  cosine-similar B token; the r = n - count A tokens ([CLS] never) with the highest similarity are merged
  into their partners by size-weighted average; the sequence becomes A's survivors then B, in order (the
  order matters: the next merge alternates positions again). A count below what one step can reach (at most
  ceil(n/2) - 1 merges) is raised. Proportional attention adds log(size) to every key's logit.

Slow and obviously correct is the point; tests/test_reference.py checks the engine against it.
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F


def plan(config, n0: int) -> list[int]:
    """Tokens kept after each layer for an example of n0 tokens."""
    if config.keep_counts is not None:
        wanted = list(config.keep_counts)
    else:
        wanted = [max(config.min_tokens, math.ceil(n0 * Fraction(f).limit_denominator(10_000)))
                  for f in config.keep_fractions]
    out, prev = [], n0
    for w in wanted:
        prev = min(prev, w)
        out.append(prev)
    return out


def encode(model, ids: list[int], config) -> torch.Tensor:
    """Final hidden states (m, D) of one example (its real token ids only) under `config`."""
    return layer_states(model, ids, config)[-1]


def layer_states(model, ids: list[int], config) -> list[torch.Tensor]:
    """The embeddings (n, D), then each layer's output (n_l, D)."""
    bert = model.base_model
    states = [embed(bert.embeddings, ids)]
    sizes = [1.0] * len(ids)  # tokens merged into each (ToMe)
    for layer, count in zip(bert.encoder.layer, plan(config, len(ids))):
        x, sizes = run_layer(layer, states[-1], sizes, count, config)
        states.append(x)
    return states


def classify(model, ids: list[int], config) -> torch.Tensor:
    """Logits (num_labels,) of a BertForSequenceClassification: pooler on [CLS], then the classifier."""
    cls = encode(model, ids, config)[0]
    pooled = torch.tanh(F.linear(cls, model.bert.pooler.dense.weight, model.bert.pooler.dense.bias))
    return F.linear(pooled, model.classifier.weight, model.classifier.bias)


def embed(emb, ids: list[int]) -> torch.Tensor:
    """Word + position + token type 0 embeddings, then LayerNorm: (n, D)."""
    x = emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[:len(ids)] + emb.token_type_embeddings.weight[0]
    return F.layer_norm(x, x.shape[-1:], emb.LayerNorm.weight, emb.LayerNorm.bias, emb.LayerNorm.eps)


def run_layer(layer, x: torch.Tensor, sizes: list[float], count: int, config):
    """One encoder layer on one example: attention, then the method's reduction, then the feed-forward block."""
    bias = torch.tensor(sizes, dtype=x.dtype).log() if _proportional(config) else torch.zeros(x.shape[0], dtype=x.dtype)
    attended, probs, values = attention(layer, x, bias)
    if config.method in ("power", "acc", "fca"):
        attended = select(layer, attended, probs, values, count, config)
    elif config.method == "tome":
        attended, sizes = tome_merge(attended, sizes, tome_count(len(sizes), count))
    return feed_forward(layer, attended), sizes


def attention(layer, x: torch.Tensor, key_bias: torch.Tensor):
    """Self-attention with the full matrix, output projection, residual, LayerNorm.
    Returns the output (n, D), probabilities (H, n, n) and values (H, n, Dh)."""
    sa, out = layer.attention.self, layer.attention.output
    n, d = x.shape
    heads = sa.num_attention_heads
    q, k, v = (F.linear(x, f.weight, f.bias).view(n, heads, d // heads).transpose(0, 1) for f in (sa.query, sa.key, sa.value))
    probs = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d // heads) + key_bias, dim=-1)  # (H, n, n)
    context = (probs @ v).transpose(0, 1).reshape(n, d)
    y = F.linear(context, out.dense.weight, out.dense.bias) + x
    return F.layer_norm(y, (d,), out.LayerNorm.weight, out.LayerNorm.bias, out.LayerNorm.eps), probs, v


def feed_forward(layer, a: torch.Tensor) -> torch.Tensor:
    inner = F.gelu(F.linear(a, layer.intermediate.dense.weight, layer.intermediate.dense.bias))
    out = layer.output
    y = F.linear(inner, out.dense.weight, out.dense.bias) + a
    return F.layer_norm(y, y.shape[-1:], out.LayerNorm.weight, out.LayerNorm.bias, out.LayerNorm.eps)


def scores(probs: torch.Tensor, values: torch.Tensor, out_weight: torch.Tensor, config) -> list[float]:
    """One score per token, by the method's definition, from the full (H, n, n) probabilities."""
    heads, n, _ = probs.shape
    if config.method in ("power", "fca"):  # received from the other queries, head-averaged
        return [(probs[:, :, j].sum() - probs[:, j, j].sum()).item() / heads for j in range(n)]
    received = [probs[:, :, j].sum(dim=1) for j in range(n)]  # (H,) each: from every query, self included
    if config.score == "value_norm":  # a_ij * ||v_j W_O^h||, W_O^h the head's slice of the output projection
        dh = values.shape[-1]
        norms = [torch.stack([(values[h, j] @ out_weight[:, h * dh:(h + 1) * dh].T).norm() for h in range(heads)])
                 for j in range(n)]
        received = [r * w for r, w in zip(received, norms)]
    return [r.mean().item() / n for r in received]


def top_tokens(score: list[float], count: int) -> list[int]:
    """[CLS] and the (count - 1) best-scored other tokens, in original order."""
    best = sorted(range(1, len(score)), key=lambda j: -score[j])[:count - 1]
    return [0, *sorted(best)]


def select(layer, attended, probs, values, count: int, config) -> torch.Tensor:
    """PoWER-BERT / ACC / FCA: keep the top tokens (FCA: and append the coarse tokens)."""
    n = attended.shape[0]
    coarse = config.coarse if config.method == "fca" else 0
    if count + coarse >= n:
        return attended
    score = scores(probs, values, layer.attention.output.dense.weight, config)
    keep = top_tokens(score, count)
    rest = [j for j in range(n) if j not in keep]
    merged = [merge_chunk(attended, chunk, score, config) for chunk in chunks(rest, coarse)]
    return torch.stack([attended[j] for j in keep] + merged)


def chunks(members: list[int], k: int) -> list[list[int]]:
    """FCA's k contiguous chunks of `members` (position * k // |members|); empty chunks dropped."""
    out = [[m for pos, m in enumerate(members) if pos * k // len(members) == c] for c in range(k)]
    return [c for c in out if c]


def merge_chunk(attended, chunk: list[int], score: list[float], config) -> torch.Tensor:
    if config.merge == "mean":
        weights = [1.0 / len(chunk)] * len(chunk)
    else:
        exps = [math.exp(score[j] - max(score[i] for i in chunk)) for j in chunk]
        weights = [e / sum(exps) for e in exps]
    if config.divide_by_count:
        weights = [w / len(chunk) for w in weights]
    return sum(w * attended[j] for w, j in zip(weights, chunk))


def tome_count(n: int, count: int) -> int:
    """The count one bipartite step can reach from n tokens (at most ceil(n/2) - 1 merges)."""
    return n if count >= n else max(count, n - (math.ceil(n / 2) - 1))


def tome_merge(x: torch.Tensor, sizes: list[float], count: int, passengers: int = 0):
    """ToMe's bipartite soft matching of one example down to `count` tokens; the last `passengers` columns
    are merged like the rest but take no part in the matching."""
    n = x.shape[0]
    if count >= n:
        return x, sizes
    a_pos, b_pos = list(range(0, n, 2)), list(range(1, n, 2))
    cos = F.normalize(x[:, :x.shape[1] - passengers], dim=-1)
    partner, best = {}, {}
    for a in a_pos[1:]:  # [CLS] (A's first) is never a source
        sims = [(cos[a] @ cos[b]).item() for b in b_pos]
        best[a] = max(sims)
        partner[a] = b_pos[sims.index(best[a])]
    sources = sorted(best, key=lambda a: -best[a])[:n - count]  # ties: the earlier position first
    rows, new_sizes = [], []
    for a in a_pos:
        if a not in sources:
            rows.append(x[a])
            new_sizes.append(sizes[a])
    for b in b_pos:
        group = [b] + [a for a in sources if partner[a] == b]
        total = sum(sizes[t] for t in group)
        rows.append(sum(sizes[t] * x[t] for t in group) / total)
        new_sizes.append(total)
    return torch.stack(rows), new_sizes


def _proportional(config) -> bool:
    return config.method == "tome" and config.proportional_attention
