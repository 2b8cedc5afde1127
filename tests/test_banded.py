"""The banded kernel computes exactly the masked dense attention of a neighbour (+ global [CLS]) pattern,
skips the rest, and counts the FLOPs it does."""
import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import leanbert
from conftest import make_batch, tiny_model
from leanbert.core import banded, patterns
from leanbert.errors import ConfigError
from leanbert.measure.flops import encoder_flops, head_flops
from leanbert.engine.registry import build_method


def masked_reference(q, k, v, key_mask, width, global_first):
    n = q.shape[2]
    pattern = patterns.neighbour(n, width)[None]
    if global_first:
        pattern = pattern | patterns.global_tokens(n, [0])[None]
    allowed = patterns.finalize(pattern, key_mask)  # (B, N, N)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])


@pytest.mark.parametrize("n", [1, 5, 16, 17, 63, 130])
@pytest.mark.parametrize("width", [1, 3, 40])
@pytest.mark.parametrize("block", [4, 16, 64])
@pytest.mark.parametrize("global_first", [True, False])
def test_banded_equals_masked_dense_on_real_queries(n, width, block, global_first):
    g = torch.Generator().manual_seed(n * 100 + width)
    q, k, v = (torch.randn(3, 2, n, 8, generator=g) for _ in range(3))
    key_mask = torch.ones(3, n, dtype=torch.bool)
    key_mask[1, max(1, n - 4):] = False  # padded row
    key_mask[2, max(1, n // 2):] = False
    got = banded.banded_attention(q, k, v, key_mask, width, global_first, block=block)
    expected = masked_reference(q, k, v, key_mask, width, global_first)
    real = key_mask[:, None, :, None]
    torch.testing.assert_close(got * real, expected * real, atol=1e-5, rtol=1e-5)  # float32, stated tolerance
    assert torch.isfinite(got).all()


def test_engine_banded_equals_masked_kernel_and_skips_work():
    model = tiny_model("sdpa", max_position_embeddings=256)
    ids, mask = make_batch(3, 200)
    config = dict(width=8, layers=(1, 2))
    leanbert.apply(model, leanbert.SparseConfig.for_layers(3, kernel="masked", **config))
    masked = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.SparseConfig.for_layers(3, kernel="banded", **config))
    fast = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(fast, masked, atol=1e-5, rtol=1e-5)
    assert banded.window_fraction(200, 8) < 0.5


@pytest.mark.parametrize("global_cls", [True, False])
def test_flops_of_banded_layers_equal_flop_counter(global_cls):
    model = tiny_model("sdpa", max_position_embeddings=256)
    cfg = leanbert.SparseConfig.for_layers(3, width=5, layers=(0, 2), kernel="banded", global_cls=global_cls)
    leanbert.apply(model, cfg)
    ids, mask = make_batch(1, 150, padded=False)
    # FlopCounterMode has no formula for the CPU flash kernel; the math backend runs the same products as matmuls
    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    c = model.config
    dense = encoder_flops(150, c.hidden_size, c.intermediate_size, 3, None, c.num_attention_heads)
    expected = encoder_flops(150, c.hidden_size, c.intermediate_size, 3, build_method(cfg), c.num_attention_heads)
    assert counter.get_total_flops() == expected + head_flops(c.hidden_size, c.num_labels)
    assert expected < dense


def test_auto_takes_the_banded_kernel_only_where_it_computes_at_most_half():
    method = build_method(leanbert.SparseConfig.for_layers(6, width=48))
    assert method.uses_banded_kernel(0, 512)  # 512 tokens, width 48: about a third of the score matrix
    assert not method.uses_banded_kernel(0, 64)  # short inputs: one block covers everything
    lexical = build_method(leanbert.SparseConfig.for_layers(6, width=48, lexical_top=2))
    assert not lexical.uses_banded_kernel(0, 512)  # not a band: masked dense


def test_banded_kernel_for_a_pattern_that_is_not_a_band_is_refused():
    with pytest.raises(ConfigError, match="kernel"):
        leanbert.SparseConfig.for_layers(3, width=2, n_random=2, kernel="banded")
    with pytest.raises(ConfigError, match="kernel"):
        leanbert.SparseConfig.for_layers(3, width=2, kernel="fast")


@pytest.mark.parametrize("n", [5, 70, 130])
@pytest.mark.parametrize("global_first", [True, False])
def test_per_head_widths_equal_per_head_masked_dense(n, global_first):
    widths = torch.tensor([0, 2, 7, 40])  # one band per head: the kernel scores the widest window, masks the rest
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, 4, n, 8, generator=g) for _ in range(3))
    key_mask = torch.ones(2, n, dtype=torch.bool)
    key_mask[1, max(1, n - 3):] = False
    got = banded.banded_attention(q, k, v, key_mask, int(widths.max()), global_first, block=16, head_widths=widths)
    expected = torch.stack([masked_reference(q[:, h:h + 1], k[:, h:h + 1], v[:, h:h + 1], key_mask, int(w), global_first)[:, 0]
                            for h, w in enumerate(widths)], dim=1)
    real = key_mask[:, None, :, None]
    torch.testing.assert_close(got * real, expected * real, atol=1e-5, rtol=1e-5)


def test_engine_runs_per_head_widths_banded_and_counts_the_widest_window():

    model = tiny_model("sdpa", max_position_embeddings=256)
    ids, mask = make_batch(2, 150)
    cfg = leanbert.SparseConfig.for_layers(3, (1, 2), head_widths=((1, 2, 3, 4), (0, 0, 5, 9)))
    method = build_method(cfg)
    assert method.band(2, 150).width == 9 and method.uses_banded_kernel(1, 150)
    leanbert.apply(model, cfg)
    out = model(input_ids=ids, attention_mask=mask).logits
    assert torch.isfinite(out).all()
    uniform = build_method(leanbert.SparseConfig.for_layers(3, (1, 2), head_widths=((4,) * 4, (9,) * 4)))
    assert encoder_flops(150, 32, 37, 3, method, 4) == encoder_flops(150, 32, 37, 3, uniform, 4)
    key_mask = torch.ones(1, 150, dtype=torch.bool)
    per_head = method.allowed_pairs(2, key_mask, None)
    assert per_head.shape == (1, 4, 150, 150) and per_head[0, 0, 5, 6].item() is False and per_head[0, 3, 5, 14]
    with pytest.raises(ConfigError, match="head_widths"):
        leanbert.SparseConfig.for_layers(3, (1, 2), head_widths=((1, 2),))
    with pytest.raises(ConfigError, match="head_widths"):
        leanbert.SparseConfig.for_layers(3, (1,), head_widths=((1, 2),), width=3)
