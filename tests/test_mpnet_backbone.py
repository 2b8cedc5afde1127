"""The 12-layer pretrained backbone (all-mpnet-base-v2), when installed (`leanbert backbone install
all-mpnet-base-v2`): loads by name as an MPNet classifier with eager attention, equals Hugging Face when no
token is removed, and runs reduced with its FLOPs counted exactly. Slow: 110M parameters."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import leanbert
from leanbert.backbones.catalog import installed_path
from leanbert.measure.flops import mean_gflops
from leanbert.engine.registry import build_method
from leanbert.engine.models import load_classifier, load_tokenizer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(installed_path("all-mpnet-base-v2") is None,
                                 reason="all-mpnet-base-v2 not installed (leanbert backbone install all-mpnet-base-v2)")]

TEXTS = ["The cat sat on the mat while the dog barked at the mailman outside the house.", "A short one."]


@pytest.fixture(scope="module")
def mpnet():
    torch.manual_seed(0)
    return load_classifier("all-mpnet-base-v2", num_labels=2), load_tokenizer("all-mpnet-base-v2")


def test_loads_by_name_as_mpnet_with_eager_attention(mpnet):
    model, _ = mpnet
    assert type(model).__name__ == "MPNetForSequenceClassification"
    assert model.config._attn_implementation == "eager" and model.config.num_hidden_layers == 12


def test_keeping_every_token_equals_hugging_face_and_reduction_counts_its_flops(mpnet):
    model, tokenizer = mpnet
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        leanbert.remove(model)
        dense = model(**batch).logits
        leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(1.0,) * 12))
        torch.testing.assert_close(model(**batch).logits, dense, atol=1e-5, rtol=0)
        config = leanbert.ACCConfig(keep_fractions=(0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.3, 0.3, 0.3))
        leanbert.apply(model, config)
        single = tokenizer(TEXTS[:1], return_tensors="pt")
        with FlopCounterMode(display=False) as counter:
            logits = model(**single).logits
    assert torch.isfinite(logits).all()
    n = single["input_ids"].shape[1]
    assert counter.get_total_flops() == round(mean_gflops([n], model.config, build_method(config)) * 1e9)
    assert mean_gflops([n], model.config) / mean_gflops([n], model.config, build_method(config)) > 1.5
