"""With reduction off, a patched model equals the unpatched Hugging Face model, bit for bit; and the
eager attention sub-layer leanbert runs at scoring layers equals Hugging Face's own."""
import pytest
import torch

import leanbert
from leanbert.engine import attention, masks
from leanbert.core import scoring
from leanbert.engine import registry
from conftest import make_batch, tiny_model

NO_REDUCTION = {"power": dict(keep_counts=(64, 64, 64)), "acc": dict(keep_fractions=(1.0, 1.0, 1.0)),
                "fca": dict(keep_fractions=(1.0, 1.0, 1.0), coarse=5), "tome": dict(keep_fractions=(1.0, 1.0, 1.0)),
                "sparse": dict(keep_fractions=(1.0, 1.0, 1.0), layers=(), width=1),
                "ltp": dict(keep_fractions=(1.0, 1.0, 1.0), thresholds=(0.0, 0.0, 0.0))}


@pytest.mark.parametrize("method", registry.names())
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_no_reduction_equals_hf(method, impl, padded, batch):
    model = tiny_model(impl)
    ids, mask = make_batch(batch, 12, padded)
    reference = model(input_ids=ids, attention_mask=mask).logits
    cfg = registry.get(method).config(**NO_REDUCTION[method])
    leanbert.apply(model, cfg)
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, reference)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("chunk", [1, 5, 12, 64])
def test_scoring_attention_equals_hf_attention_and_blocked_stats_equal_full_probabilities(impl, chunk):
    model = tiny_model(impl)
    ids, mask = make_batch(3, 12, padded=True)
    mask[2] = 0  # an all-padding row too
    hidden = model.bert.embeddings(input_ids=ids)
    layer = model.bert.encoder.layer[0]
    key_mask = mask.bool()
    ours, stats, values = attention.attention_with_stats(layer, hidden, key_mask, chunk=chunk)
    theirs, probs = _hf_attention_with_probs(model, layer, hidden, key_mask)
    real = key_mask[:, :, None]
    torch.testing.assert_close(ours * real, theirs * real, atol=1e-5, rtol=1e-5)
    reference = scoring.attention_stats(probs, key_mask)  # from the full (B, H, N, N) matrix
    torch.testing.assert_close(stats.received, reference.received, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stats.self_attention, reference.self_attention, atol=1e-6, rtol=1e-5)
    assert stats.received[2].abs().max() == 0  # no real query, no attention counted
    assert values.shape == (3, 4, 12, 8)


def _hf_attention_with_probs(model, layer, hidden, key_mask):
    """Hugging Face's own eager attention, asked for its probabilities."""
    model.config._attn_implementation = "eager"
    layer.attention.self.config._attn_implementation = "eager"
    out, probs = layer.attention(hidden, masks.hf_mask(model.config, hidden, key_mask), output_attentions=True)
    return out, probs


def test_remove_restores_exactly_and_apply_twice_is_safe():
    model = tiny_model()
    ids, mask = make_batch(2, 12)
    reference = model(input_ids=ids, attention_mask=mask).logits
    before = dict(model.bert.encoder.__dict__)
    cfg = leanbert.PowerConfig(keep_counts=(8, 6, 4))
    leanbert.apply(model, cfg)
    leanbert.apply(model, cfg)
    reduced = model(input_ids=ids, attention_mask=mask).logits
    assert not torch.equal(reduced, reference)
    leanbert.remove(model)
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, reference)
    assert model.bert.encoder.__dict__.keys() == before.keys()
    assert not hasattr(model.config, "leanbert")
    leanbert.remove(model)  # removing twice is harmless


def test_per_call_config_overrides_and_leaves_model_unchanged():
    model = tiny_model()
    ids, mask = make_batch(2, 12)
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)))
    dense = model(input_ids=ids, attention_mask=mask).logits
    cut = leanbert.ACCConfig(keep_fractions=(0.5, 0.3, 0.2))
    reduced = model(input_ids=ids, attention_mask=mask, leanbert_config=cut).logits
    assert not torch.equal(dense, reduced)
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, dense)
    assert leanbert.current_config(model).keep_fractions == (1.0, 1.0, 1.0)


def test_per_call_config_for_the_wrong_depth_is_refused():
    model = leanbert.apply(tiny_model(), leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)))
    ids, mask = make_batch(1, 8)
    with pytest.raises(leanbert.ConfigError, match="leanbert_config.*2 layers"):
        model(input_ids=ids, attention_mask=mask, leanbert_config=leanbert.ACCConfig(keep_fractions=(0.5, 0.5)))
