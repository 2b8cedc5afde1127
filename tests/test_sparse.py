"""Sparse attention applied through the engine: only chosen layers, equals dense when nothing is masked,
equals a hand-made masked attention, finite with padding, config validation."""
import pytest
import torch

import leanbert
from leanbert.core import patterns
from leanbert.engine.registry import build_method
from conftest import make_batch, tiny_model


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_full_width_pattern_equals_dense(impl):
    model = tiny_model(impl)
    ids, mask = make_batch(3, 10)
    dense = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.SparseConfig.for_layers(3, width=10))
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, dense, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_pattern_changes_only_the_chosen_layers(impl):
    model = tiny_model(impl)
    ids, mask = make_batch(2, 12)
    outputs = {}
    for i, l in enumerate(model.bert.encoder.layer):
        l.register_forward_hook(lambda m, a, o, i=i: outputs.__setitem__(i, o))
    model(input_ids=ids, attention_mask=mask)
    dense = dict(outputs)
    leanbert.apply(model, leanbert.SparseConfig.for_layers(3, layers=(2,), width=1, global_cls=False))
    out = model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(outputs[0], dense[0]) and torch.equal(outputs[1], dense[1])
    assert not torch.allclose(outputs[2], dense[2]) and torch.isfinite(out).all()


def test_sparse_layer_equals_hand_masked_attention():
    model = tiny_model("eager")
    layer = model.bert.encoder.layer[0]
    h = torch.randn(1, 6, 32)
    key_mask = torch.ones(1, 6, dtype=torch.bool)
    allowed = build_method(leanbert.SparseConfig.for_layers(3, layers=(0,), width=1)).allowed_pairs(0, key_mask, h)
    sa = layer.attention.self
    q, k, v = (f(h).view(1, 6, 4, 8).transpose(1, 2) for f in (sa.query, sa.key, sa.value))
    logits = (q @ k.transpose(2, 3) * sa.scaling).masked_fill(~allowed[:, None], float("-inf"))
    ctx = (logits.softmax(-1) @ v).transpose(1, 2).reshape(1, 6, 32)
    expected = layer.feed_forward_chunk(layer.attention.output(ctx, h))
    from leanbert.engine import masks

    got = layer(h, masks.pair_mask(model.config, allowed, h.dtype))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_padding_rows_stay_finite_and_sparsity_is_high():
    model = leanbert.apply(tiny_model(), leanbert.SparseConfig.for_layers(3, width=1, n_random=1))
    ids, mask = make_batch(4, 16)
    mask[3] = 0
    assert torch.isfinite(model(input_ids=ids, attention_mask=mask).logits).all()
    method = build_method(leanbert.current_config(model))
    allowed = method.allowed_pairs(0, torch.ones(1, 64, dtype=torch.bool), torch.randn(1, 64, 8))
    assert patterns.sparsity(allowed, torch.ones(1, 64, dtype=torch.bool)).item() > 0.9


@pytest.mark.parametrize("kwargs, field", [(dict(layers=(5,), width=1), "layers"), (dict(width=-1), "width"),
                                           (dict(global_cls=False), "width")])
def test_invalid_sparse_configs(kwargs, field):
    with pytest.raises(leanbert.ConfigError, match=f"'{field}'"):
        leanbert.SparseConfig.for_layers(3, **kwargs)
