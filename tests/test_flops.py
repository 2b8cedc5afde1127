"""The analytic FLOPs count equals torch's FlopCounterMode on eager attention, pruned and unpruned."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import leanbert
from leanbert.measure.flops import encoder_flops, head_flops
from leanbert.engine.registry import build_method
from conftest import make_batch, tiny_model

CONFIGS = [None, leanbert.PowerConfig(keep_counts=(9, 5, 2)), leanbert.ACCConfig(keep_fractions=(0.75, 0.5, 0.25)),
           leanbert.ACCConfig(keep_fractions=(0.6, 0.6, 0.3), score="value_norm"),
           leanbert.FCAConfig(keep_counts=(6, 6, 3), coarse=1, merge="weighted"),
           leanbert.FCAConfig(keep_counts=(5, 4, 2), coarse=2, merge="mean")]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["dense", "power", "acc", "acc-value-norm", "fca-k1", "fca-k2"])
@pytest.mark.parametrize("n", [12, 7])
def test_analytic_flops_equal_flop_counter(cfg, n):
    model = tiny_model("eager")
    if cfg is not None:
        leanbert.apply(model, cfg)
    ids, mask = make_batch(1, n, padded=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    c = model.config
    expected = encoder_flops(n, c.hidden_size, c.intermediate_size, c.num_hidden_layers, build_method(cfg) if cfg else None,
                             c.num_attention_heads)
    assert counter.get_total_flops() == expected + head_flops(c.hidden_size, c.num_labels)
