"""ToMe-style merging: bipartite matching by hand, [CLS] and pads, proportional attention, FLOPs."""
import torch
from torch.utils.flop_counter import FlopCounterMode

import leanbert
from leanbert.core import merging
from leanbert.engine import masks
from leanbert.measure.flops import encoder_flops, head_flops
from leanbert.engine.registry import build_method
from conftest import make_batch, tiny_model


def test_bipartite_merge_by_hand():
    # A = positions 0, 2, 4 ; B = positions 1, 3. Token 2 equals token 3, token 4 is close to token 1.
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [0.1, 1.0]]])
    mask = torch.ones(1, 5, dtype=torch.bool)
    out, out_mask, sizes = merging.bipartite_soft_matching(x, mask, mask.float(), 1)
    # the most similar A->B pair is 2->3 (cosine 1): merged, the rest kept; [CLS] first
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.0], [0.1, 1.0], [0.0, 1.0], [1.0, 1.0]]]))
    assert sizes.tolist() == [[1.0, 1.0, 1.0, 2.0]] and out_mask.all()


def test_size_weighted_average_and_cls_protected():
    x = torch.tensor([[[5.0, 5.0], [1.0, 0.0], [3.0, 0.0]]])  # [CLS] is most similar to everything: protected
    mask = torch.ones(1, 3, dtype=torch.bool)
    sizes = torch.tensor([[1.0, 3.0, 1.0]])
    out, _, out_sizes = merging.bipartite_soft_matching(x, mask, sizes, 1)
    torch.testing.assert_close(out[0, 0], torch.tensor([5.0, 5.0]))
    torch.testing.assert_close(out[0, 1], torch.tensor([(1.0 * 3 + 3.0 * 1) / 4, 0.0]))
    assert out_sizes.tolist() == [[1.0, 4.0]]


def test_pads_never_change_a_real_token():
    x = torch.randn(1, 6, 4)
    mask = torch.tensor([[True, True, False, False, False, False]])
    out, out_mask, sizes = merging.bipartite_soft_matching(x, mask, mask.float(), 2)
    torch.testing.assert_close(out[0, 0], x[0, 0])
    real = out[out_mask]
    assert any(torch.allclose(r, x[0, 1]) for r in real) and torch.isfinite(out).all()


def test_tome_model_shrinks_uses_proportional_attention_and_counts_flops():
    model = leanbert.apply(tiny_model("eager"), leanbert.TomeConfig(keep_fractions=(0.75, 0.5, 0.25)))
    assert build_method(leanbert.current_config(model)).plan(12) == [9, 6, 4]  # 3 = below one step's limit
    ids, mask = make_batch(1, 12, padded=False)
    seen = []
    for l in model.bert.encoder.layer:
        l.intermediate.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).logits
    assert seen == [9, 6, 4] and torch.isfinite(out).all()
    c = model.config
    method = build_method(leanbert.current_config(model))
    encoder = encoder_flops(12, c.hidden_size, c.intermediate_size, 3, method, c.num_attention_heads)
    expected = encoder + head_flops(c.hidden_size, 2)
    assert counter.get_total_flops() == expected


def test_proportional_mask_adds_log_size():
    m = masks.proportional_mask(torch.tensor([[True, True, False]]), torch.tensor([[1.0, 4.0, 0.0]]), torch.float32)
    assert m.shape == (1, 1, 1, 3)
    torch.testing.assert_close(m[0, 0, 0, :2], torch.tensor([0.0, torch.log(torch.tensor(4.0)).item()]))
    assert m[0, 0, 0, 2] == torch.finfo(torch.float32).min


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3), st.integers(3, 14), st.integers(0, 2**31 - 1), st.data())
def test_merge_invariants(b, n, seed, data):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 4, generator=g)
    lengths = torch.tensor(data.draw(st.lists(st.integers(1, n), min_size=b, max_size=b)))
    mask = torch.arange(n)[None, :] < lengths[:, None]
    r = data.draw(st.integers(1, (n + 1) // 2 - 1)) if (n + 1) // 2 > 1 else 0
    out, out_mask, sizes = merging.bipartite_soft_matching(x, mask, mask.float(), r)
    assert out.shape == (b, n - r, 4) and torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 0], x[:, 0])  # [CLS] untouched and first
    torch.testing.assert_close(sizes.sum(1), lengths.float())  # every real token is accounted for once
    assert (sizes[~out_mask] == 0).all()


def test_proportional_attention_makes_merging_exact_duplicates_lossless():
    """Two identical tokens merged into one of size 2, with log(2) added to its logit, give every query the
    same attention output as the unmerged pair: the property proportional attention exists for."""
    model = tiny_model("sdpa")
    layer = model.bert.encoder.layer[1]
    torch.manual_seed(0)
    h = torch.randn(1, 6, 32)
    h[0, 2] = h[0, 3]  # A token 2 duplicates B token 3
    key_mask = torch.ones(1, 6, dtype=torch.bool)
    merged, merged_mask, sizes = merging.bipartite_soft_matching(h, key_mask, key_mask.float(), 1)
    assert sizes.max() == 2
    full = layer(h, None)
    reduced = layer(merged, masks.proportional_mask(merged_mask, sizes, h.dtype))
    torch.testing.assert_close(reduced[0, 0], full[0, 0], atol=1e-5, rtol=1e-5)  # [CLS] unchanged
