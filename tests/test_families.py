"""Every supported backbone family, on tiny models built in code: no reduction equals Hugging Face, the reduced
path equals the naive per-family reference (tests/family_reference.py), FLOPs equal FlopCounterMode, save/load
round trip, hidden states, loading by family, length limits."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import (AutoModelForSequenceClassification, BertConfig, DistilBertConfig, ElectraConfig,
                          GPT2Config, GPT2ForSequenceClassification, MPNetConfig, RobertaConfig, XLMRobertaConfig)

import family_reference
import leanbert
from conftest import make_batch
from leanbert.data.batching import check_max_length
from leanbert.errors import ConfigError
from leanbert.measure.flops import mean_gflops
from leanbert.engine.registry import build_method

COMMON = dict(vocab_size=64, num_labels=2)
BERT_SHAPE = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
CONFIGS = {
    "bert": lambda: BertConfig(**COMMON, **BERT_SHAPE, max_position_embeddings=40),
    "roberta": lambda: RobertaConfig(**COMMON, **BERT_SHAPE, max_position_embeddings=42),
    "xlm-roberta": lambda: XLMRobertaConfig(**COMMON, **BERT_SHAPE, max_position_embeddings=42),
    "electra": lambda: ElectraConfig(**COMMON, **BERT_SHAPE, embedding_size=32, max_position_embeddings=40),
    "electra-small-embeddings": lambda: ElectraConfig(**COMMON, **BERT_SHAPE, embedding_size=16, max_position_embeddings=40),
    "distilbert": lambda: DistilBertConfig(**COMMON, dim=32, hidden_dim=64, n_layers=3, n_heads=4, dropout=0.0,
                                           attention_dropout=0.0, max_position_embeddings=40),
    "mpnet": lambda: MPNetConfig(**COMMON, **BERT_SHAPE, max_position_embeddings=42),
}
SDPA = {"bert", "roberta", "xlm-roberta", "electra", "electra-small-embeddings", "distilbert"}  # MPNet: eager only
REDUCTIONS = {
    "power-counts": leanbert.PowerConfig(keep_counts=(9, 5, 2)),
    "acc-fractions-value-norm": leanbert.ACCConfig(keep_fractions=(0.6, 0.4, 0.2), score="value_norm"),
    "fca-k1-weighted": leanbert.FCAConfig(keep_counts=(8, 5, 3), coarse=1),
    "fca-k2-mean": leanbert.FCAConfig(keep_counts=(7, 5, 3), coarse=2, merge="mean"),
    "tome-counts": leanbert.TomeConfig(keep_counts=(9, 6, 4)),
}


def family_of(name: str) -> str:
    return "electra" if name.startswith("electra") else name


def build(name: str, impl: str = "eager", seed: int = 0):
    torch.manual_seed(seed)
    config = CONFIGS[name]()
    config._attn_implementation = impl
    return AutoModelForSequenceClassification.from_config(config, attn_implementation=impl).eval()


def _impls():
    return [pytest.param(name, impl, id=f"{name}-{impl}") for name in CONFIGS for impl in ("eager", "sdpa")
            if impl == "eager" or name in SDPA]


@pytest.mark.parametrize("name, impl", _impls())
@pytest.mark.parametrize("batch", [(1, 12, False), (3, 12, True)], ids=["batch1", "batch3-padded"])
def test_no_reduction_equals_hugging_face(name, impl, batch):
    model = build(name, impl)
    ids, mask = make_batch(*batch)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).logits
        leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)))  # every layer keeps everything
        got = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in CONFIGS if n != "electra-small-embeddings"])
@pytest.mark.parametrize("reduction", list(REDUCTIONS))
def test_reduced_path_equals_the_naive_reference(name, reduction):
    """float64, equal-length batch of 3: every row's final hidden states equal the reference's (1e-10)."""
    model = build(name, "eager", seed=1).double()
    ids, mask = make_batch(3, 12, padded=False, seed=2)
    config = REDUCTIONS[reduction]
    leanbert.apply(model, config)
    with torch.no_grad():
        out = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        for r in range(ids.shape[0]):
            expected = family_reference.encode(model, family_of(name), ids[r].tolist(), config)
            torch.testing.assert_close(out[r], expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", ["roberta", "distilbert", "mpnet"])
def test_padded_rows_keep_their_logits(name):
    """Absolute counts in a padded batch: each row's logits equal the row run alone (pads change nothing)."""
    model = build(name, "eager", seed=3).double()
    leanbert.apply(model, REDUCTIONS["power-counts"])
    ids, mask = make_batch(4, 14, padded=True, seed=4)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask).logits
        for r in range(ids.shape[0]):
            n = int(mask[r].sum())
            alone = model(input_ids=ids[r:r + 1, :n], attention_mask=mask[r:r + 1, :n]).logits[0]
            torch.testing.assert_close(batched[r], alone, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("reduction", [None, "power-counts", "fca-k2-mean", "tome-counts"])
def test_analytic_flops_equal_flop_counter(name, reduction):
    model = build(name, "eager")
    config = REDUCTIONS[reduction] if reduction else None
    if config is not None:
        leanbert.apply(model, config)
    ids, mask = make_batch(1, 12, padded=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    expected = mean_gflops([12], model.config, build_method(config) if config else None) * 1e9
    assert counter.get_total_flops() == round(expected)


@pytest.mark.parametrize("name", ["roberta", "electra", "distilbert", "mpnet"])
def test_save_and_load_round_trip(name, tmp_path):
    model = build(name, "eager")
    leanbert.apply(model, REDUCTIONS["fca-k1-weighted"])
    model.save_pretrained(tmp_path / name)
    loaded = leanbert.from_pretrained(tmp_path / name)
    assert type(loaded) is type(model) and leanbert.current_config(loaded) == REDUCTIONS["fca-k1-weighted"]
    ids, mask = make_batch(3, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits,
                                   model(input_ids=ids, attention_mask=mask).logits, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["roberta", "distilbert", "mpnet"])
def test_hidden_states_come_back_at_their_reduced_lengths(name):
    model = build(name, "eager")
    leanbert.apply(model, REDUCTIONS["power-counts"])
    ids, mask = make_batch(2, 12, padded=False)
    with torch.no_grad():
        states = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert [h.shape[1] for h in states] == [12, 9, 5, 2]


def test_mpnet_keeps_original_positions_for_the_tokens_it_keeps():
    """Dropping tokens must not shift the survivors' relative positions: with a kept set that skips a token,
    the bias between survivors is the dense model's at their original distance, so keeping everything at layer
    1 and dropping afterwards equals the reference (which carries positions) but not a run that renumbers."""
    model = build("mpnet", "eager", seed=5).double()
    config = leanbert.PowerConfig(keep_counts=(12, 4, 4))
    leanbert.apply(model, config)
    ids, mask = make_batch(1, 12, padded=False, seed=6)
    with torch.no_grad():
        out = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[0]
    torch.testing.assert_close(out, family_reference.encode(model, "mpnet", ids[0].tolist(), config), atol=1e-10, rtol=0)
    renumbered = leanbert.backbones.mpnet.MPNetLike()
    renumbered.carries_positions = False  # what a naive port would do: positions 0..N'-1 after each reduction
    model.base_model.encoder.__dict__["_leanbert_backbone"] = renumbered
    with torch.no_grad():
        shifted = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[0]
    assert (shifted - out).abs().max() > 1e-3


def test_unsupported_family_is_refused_with_the_supported_list():
    model = GPT2ForSequenceClassification(GPT2Config(vocab_size=64, n_embd=32, n_layer=3, n_head=4, n_positions=40))
    with pytest.raises(ConfigError, match="does not support model family 'gpt2'; supported: bert, camembert"):
        leanbert.apply(model, REDUCTIONS["power-counts"])


@pytest.mark.parametrize("name, limit", [("bert", 40), ("roberta", 40), ("mpnet", 40), ("distilbert", 40)])
def test_usable_length_leaves_out_reserved_positions(name, limit):
    config = CONFIGS[name]()
    assert check_max_length(None, config, limit) == limit
    with pytest.raises(ConfigError, match="max_length"):
        check_max_length(None, config, limit + 1)


def test_roberta_base_positions_hold_512_tokens():
    config = RobertaConfig(max_position_embeddings=514)
    assert check_max_length(None, config, 512) == 512
    with pytest.raises(ConfigError):
        check_max_length(None, config, 513)


def test_families_are_listed():
    assert leanbert.backbones.supported_families() == ["bert", "camembert", "distilbert", "electra", "mpnet", "roberta",
                                                       "xlm-roberta"]
    assert isinstance(BertConfig(), BertConfig)


@pytest.mark.parametrize("name", [*(pytest.param(n, marks=pytest.mark.slow) for n in ("roberta", "electra", "distilbert")),
                                  "mpnet"])
def test_onnx_export_matches_pytorch(name, tmp_path):
    """Each family exports with its own inputs (no token_type_ids where it has no segments), reduction included."""
    pytest.importorskip("onnxruntime")
    from leanbert.deploy.export import export_and_verify

    model = build(name, "eager" if name == "mpnet" else "sdpa")
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(0.7, 0.5, 0.3)))
    info = export_and_verify(model, tmp_path / "m.onnx", lengths=(3, 9, 40), example_length=16)
    assert max(c["max_abs_diff"] for c in info["checks"]) <= info["tolerance"]
