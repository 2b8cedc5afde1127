"""Engine behaviour: tokens are physically removed, [CLS] kept, order preserved, padding handled."""
import json

import pytest
import torch

import leanbert
from leanbert.engine import patch
from leanbert.engine.config import ConfigError
from conftest import make_batch, tiny_model


def ffn_lengths(model, ids, mask, **kw):
    """Sequence length entering each layer's feed-forward block: proves the tensors really shrink."""
    seen = []
    hooks = [l.intermediate.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
             for l in model.bert.encoder.layer]
    out = model(input_ids=ids, attention_mask=mask, **kw)
    for h in hooks:
        h.remove()
    return seen, out


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_sequence_physically_shrinks_to_plan(impl):
    model = leanbert.apply(tiny_model(impl), leanbert.PowerConfig(keep_counts=(9, 5, 2)))
    ids, mask = make_batch(3, 12)
    seen, out = ffn_lengths(model, ids, mask)
    assert seen == [9, 5, 2]
    assert torch.isfinite(out.logits).all()


def test_fractions_follow_batch_length_with_integer_counts():
    model = leanbert.apply(tiny_model(), leanbert.ACCConfig(keep_fractions=(0.5, 0.25, 0.125)))
    for n, expected in [(16, [8, 4, 2]), (12, [6, 3, 2]), (7, [4, 2, 1])]:
        ids, mask = make_batch(2, n, padded=False)
        assert ffn_lengths(model, ids, mask)[0] == expected


def test_keep_count_larger_than_sequence_keeps_everything():
    model = tiny_model()
    ids, mask = make_batch(2, 6)
    reference = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.PowerConfig(keep_counts=(100, 50, 7)))
    seen, out = ffn_lengths(model, ids, mask)
    assert seen == [6, 6, 6]
    assert torch.equal(out.logits, reference)


def test_cls_kept_order_preserved_and_padding_never_beats_real_tokens():
    model = tiny_model("eager")
    ids, mask = make_batch(3, 12)  # real lengths 12, 9, 6
    captured = {}
    method = leanbert.engine.registry.build_method(leanbert.PowerConfig(keep_counts=(8, 8, 8)))
    original_reduce = method.reduce

    def spy(hidden, key_mask, scores, n_keep, index=0, sizes=None):
        from leanbert.core.scoring import select_keep_indices

        captured["idx"] = select_keep_indices(scores, n_keep)
        captured["real"] = key_mask.clone()
        return original_reduce(hidden, key_mask, scores, n_keep, index)

    method.reduce = spy
    leanbert.apply(model, method.config)
    patch.install(model.bert.encoder, method)
    model(input_ids=ids, attention_mask=mask)
    idx, real = captured["idx"], captured["real"]
    assert (idx[:, 0] == 0).all()
    assert (idx[:, 1:] > idx[:, :-1]).all()
    for row in range(3):
        kept_real = real[row, idx[row]].sum().item()
        assert kept_real == min(8, real[row].sum().item())


def test_all_padding_rows_and_mixed_lengths_give_finite_outputs():
    model = leanbert.apply(tiny_model(), leanbert.ACCConfig(keep_fractions=(0.6, 0.3, 0.1)))
    ids, mask = make_batch(4, 20)
    mask[3] = 0  # a row of nothing but padding
    mask[2, 1:] = 0  # a row with only [CLS]
    out = model(input_ids=ids, attention_mask=mask).logits
    assert torch.isfinite(out).all()


def test_reduced_model_trains_and_gradients_reach_every_layer():
    model = leanbert.apply(tiny_model(), leanbert.PowerConfig(keep_counts=(8, 4, 2)))
    model.train()
    ids, mask = make_batch(3, 12)
    loss = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 0])).loss
    loss.backward()
    for layer in model.bert.encoder.layer:
        assert layer.attention.self.query.weight.grad.abs().sum() > 0


def test_save_and_from_pretrained_round_trip(tmp_path):
    cfg = leanbert.ACCConfig(keep_fractions=(0.7, 0.5, 0.3), score="value_norm")
    model = leanbert.apply(tiny_model(), cfg)
    ids, mask = make_batch(2, 12)
    expected = model(input_ids=ids, attention_mask=mask).logits
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["leanbert"]
    assert saved["method"] == "acc" and saved["score"] == "value_norm"
    loaded = leanbert.from_pretrained(tmp_path, attn_implementation="sdpa")
    assert leanbert.current_config(loaded) == cfg
    torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits, expected)


def test_plain_hf_load_gives_the_dense_model(tmp_path):
    from transformers import BertForSequenceClassification

    model = tiny_model()
    ids, mask = make_batch(2, 12)
    dense = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.PowerConfig(keep_counts=(4, 3, 2))).save_pretrained(tmp_path)
    plain = BertForSequenceClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(plain(input_ids=ids, attention_mask=mask).logits, dense)


def test_profile_for_wrong_number_of_layers_names_the_field():
    with pytest.raises(ConfigError, match="keep_counts.*3 layers"):
        leanbert.apply(tiny_model(), leanbert.PowerConfig(keep_counts=(4, 3)))


def test_bert_model_without_head_is_supported():
    from transformers import BertModel

    from conftest import tiny_config

    model = BertModel(tiny_config()).eval()
    leanbert.apply(model, leanbert.PowerConfig(keep_counts=(6, 4, 3)))
    ids, mask = make_batch(2, 10)
    assert model(input_ids=ids, attention_mask=mask).last_hidden_state.shape == (2, 3, 32)


@pytest.mark.parametrize("count, expected", [(1, [1, 1, 1]), (12, [12, 12, 12]), (13, [12, 12, 12])])
def test_keep_count_one_n_and_n_plus_one(count, expected):
    model = tiny_model()
    ids, mask = make_batch(2, 12, padded=False)
    dense = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, leanbert.PowerConfig(keep_counts=(count,) * 3))
    seen, out = ffn_lengths(model, ids, mask)
    assert seen == expected and torch.isfinite(out.logits).all()
    if count >= 12:
        assert torch.equal(out.logits, dense)


def test_long_text_and_odd_unicode_through_a_reduced_model(tiny_tokenizer):
    model = leanbert.apply(tiny_model(vocab_size=64), leanbert.ACCConfig(keep_fractions=(0.5, 0.3, 0.2)))
    texts = ["good " * 2000, "Ünïcödé 🙂 中文 \x00\x07 control", " ", "a"]
    batch = tiny_tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    out = model(**batch).logits
    assert out.shape == (4, 2) and torch.isfinite(out).all()
