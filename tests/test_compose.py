"""A sparse attention pattern composed with token reduction in one config: same engine, same guarantees."""
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import leanbert
from conftest import make_batch, tiny_model
from leanbert.core.banded import Band
from leanbert.engine import attention
from leanbert.engine.config import config_from_dict
from leanbert.errors import ConfigError
from leanbert.deploy.export import exportable_config
from leanbert.measure.flops import encoder_flops, head_flops
from leanbert.engine.registry import build_method

ACC = dict(keep_fractions=(0.75, 0.5, 0.4))


def pattern(**kw):
    return leanbert.SparseConfig.for_layers(3, **kw)


def test_a_pattern_that_allows_everything_changes_nothing():
    model = tiny_model(initializer_range=0.3)
    ids, mask = make_batch(3, 20)
    leanbert.apply(model, leanbert.ACCConfig(**ACC))
    alone = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.ACCConfig(**ACC, pattern=pattern(width=20, kernel="masked")))
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("base", [leanbert.ACCConfig(keep_fractions=(1.0, 0.6, 0.5)),
                                  leanbert.FCAConfig(keep_fractions=(1.0, 0.6, 0.5), coarse=2),
                                  leanbert.TomeConfig(keep_fractions=(1.0, 0.7, 0.6))])
def test_pattern_changes_the_output_and_banded_equals_masked_under_reduction(base):
    model = tiny_model(initializer_range=0.3, max_position_embeddings=256)
    ids, mask = make_batch(3, 200)
    plain = leanbert.apply(model, base)(input_ids=ids, attention_mask=mask).logits
    outs = {}
    for kernel in ("masked", "banded"):
        leanbert.apply(model, base.replace(pattern=pattern(width=6, kernel=kernel)))
        outs[kernel] = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(outs["banded"], outs["masked"], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(outs["banded"]).all() and not torch.allclose(outs["banded"], plain, atol=1e-4)


def test_composed_config_round_trips_through_json_and_save_pretrained(tmp_path):
    config = leanbert.ACCConfig(**ACC, pattern=pattern(width=3, layers=(1, 2)))
    assert config_from_dict(config.to_dict()) == config
    assert "pattern" not in leanbert.ACCConfig(**ACC).to_dict()  # old JSON unchanged
    model = leanbert.apply(tiny_model(), config)
    model.save_pretrained(tmp_path)
    assert leanbert.current_config(leanbert.from_pretrained(tmp_path)) == config


def test_flops_of_reduction_plus_banded_pattern_equal_flop_counter():
    model = tiny_model("sdpa", max_position_embeddings=256)
    cfg = leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 0.5), pattern=pattern(width=5, kernel="banded"))
    leanbert.apply(model, cfg)
    ids, mask = make_batch(1, 150, padded=False)
    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    c = model.config
    expected = encoder_flops(150, c.hidden_size, c.intermediate_size, 3, build_method(cfg), c.num_attention_heads)
    assert counter.get_total_flops() == expected + head_flops(c.hidden_size, c.num_labels)


def test_bad_compositions_are_refused_by_field():
    with pytest.raises(ConfigError, match="pattern"):
        leanbert.ACCConfig(**ACC, pattern=leanbert.SparseConfig.for_layers(4, width=2))
    with pytest.raises(ConfigError, match="pattern"):
        leanbert.SparseConfig.for_layers(3, width=2).replace(pattern=pattern(width=1))
    with pytest.raises(ConfigError, match="pattern"):
        exportable_config(leanbert.ACCConfig(**ACC, pattern=pattern(width=2)))


@pytest.mark.parametrize("global_first", [True, False])
def test_banded_scoring_attention_equals_the_masked_one(global_first):
    model = tiny_model(max_position_embeddings=256)
    ids, mask = make_batch(3, 150)
    hidden, key_mask = model.bert.embeddings(input_ids=ids), mask.bool()
    layer = model.bert.encoder.layer[0]
    method = build_method(pattern(width=5, global_cls=global_first))
    masked = attention.attention_with_stats(layer, hidden, key_mask, allowed=method.allowed_pairs(0, key_mask, hidden))
    banded = attention.attention_with_stats(layer, hidden, key_mask, band=Band(5, global_first))
    real = key_mask[:, :, None]
    torch.testing.assert_close(banded[0] * real, masked[0] * real, atol=1e-5, rtol=1e-5)
    for got, expected in zip(banded[1], masked[1]):  # received and self-attention per key
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
