"""Every supported backbone family, on tiny models built in code: no reduction equals Hugging Face, the reduced
path equals the naive per-family reference (tests/family_reference.py), FLOPs equal FlopCounterMode, save/load
round trip, hidden states, loading by family, length limits."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import (AutoModelForSequenceClassification, BertConfig, DistilBertConfig, ElectraConfig,
                          GPT2Config, GPT2ForSequenceClassification, ModernBertConfig, MPNetConfig, RobertaConfig,
                          XLMRobertaConfig)

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
    # layers 0 and 2 global, 1 sliding with a half window of 3 (|i - j| <= 3): the window matters at 12 tokens
    "modernbert": lambda: ModernBertConfig(**COMMON, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                           intermediate_size=64, max_position_embeddings=64, local_attention=6,
                                           global_attn_every_n_layers=2, pad_token_id=0, bos_token_id=1,
                                           eos_token_id=2, cls_token_id=1, sep_token_id=2),
}
SDPA = {"bert", "roberta", "xlm-roberta", "electra", "electra-small-embeddings", "distilbert", "modernbert"}  # MPNet: eager
REDUCTIONS = {
    "power-counts": leanbert.PowerConfig(keep_counts=(9, 5, 2)),
    "acc-fractions-value-norm": leanbert.ACCConfig(keep_fractions=(0.6, 0.4, 0.2), score="value_norm"),
    "fca-k1-weighted": leanbert.FCAConfig(keep_counts=(8, 5, 3), coarse=1),
    "fca-k2-mean": leanbert.FCAConfig(keep_counts=(7, 5, 3), coarse=2, merge="mean"),
    "tome-counts": leanbert.TomeConfig(keep_counts=(9, 6, 4)),
}


# Hugging Face rotates ModernBERT's queries and keys in float32 even in a float64 model, so one float32 rounding
# of a q/k element can differ between two float64 computations of it (1e-16 apart): agreement to ~1e-9, not 1e-10.
# A wrong position, window or merge moves the output by 1e-2 or more.
ROTARY_ATOL = 1e-8


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
            torch.testing.assert_close(out[r], expected, atol=ROTARY_ATOL if name == "modernbert" else 1e-10, rtol=0)


@pytest.mark.parametrize("name", ["roberta", "distilbert", "mpnet", "modernbert"])
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


@pytest.mark.parametrize("name", ["roberta", "electra", "distilbert", "mpnet", "modernbert"])
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


@pytest.mark.parametrize("name", ["roberta", "distilbert", "mpnet", "modernbert"])
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


def test_the_modernbert_reference_is_hugging_face_itself():
    """The reference's ModernBERT (rotary, sliding window, pre-norm, gated FFN, final norm) equals the plain
    model, so the reduced path is pinned against an independent reading of the family, not against itself."""
    model = build("modernbert", "eager", seed=7).double()
    ids, mask = make_batch(2, 12, padded=False, seed=8)
    with torch.no_grad():
        out = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    for r in range(2):
        torch.testing.assert_close(out[r], family_reference.encode(model, "modernbert", ids[r].tolist(), None),
                                   atol=ROTARY_ATOL, rtol=0)


def test_modernbert_window_and_angles_follow_original_positions():
    """Dropping tokens must not bring far tokens into a sliding window nor change the angle between survivors:
    the run that renumbers positions after each reduction differs from the one that carries them."""
    model = build("modernbert", "eager", seed=5).double()
    config = leanbert.PowerConfig(keep_counts=(5, 5, 5))  # layer 1 (sliding, |i - j| <= 3) sees 5 of 12 tokens
    leanbert.apply(model, config)
    ids, mask = make_batch(1, 12, padded=False, seed=6)
    with torch.no_grad():
        out = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[0]
    torch.testing.assert_close(out, family_reference.encode(model, "modernbert", ids[0].tolist(), config),
                               atol=ROTARY_ATOL, rtol=0)
    adapter = model.base_model.__dict__["_leanbert_backbone"]
    renumber = adapter.position_bias
    adapter_copy = type(adapter)()
    adapter_copy.position_bias = lambda encoder, positions: renumber(
        encoder, torch.arange(positions.shape[1], dtype=positions.dtype).expand_as(positions))
    model.base_model.__dict__["_leanbert_backbone"] = adapter_copy
    with torch.no_grad():
        shifted = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[0]
    assert (shifted - out).abs().max() > 1e-3


def test_modernbert_mean_pooling_head_refuses_token_reduction_and_runs_patterns():
    config = CONFIGS["modernbert"]()
    config.classifier_pooling = "mean"
    model = AutoModelForSequenceClassification.from_config(config).eval()
    with pytest.raises(ConfigError, match="classifier_pooling"):
        leanbert.apply(model, REDUCTIONS["power-counts"])
    ids, mask = make_batch(2, 12)
    with torch.no_grad():
        dense = model(input_ids=ids, attention_mask=mask).logits
        leanbert.apply(model, leanbert.SparseConfig.for_layers(3, width=1))  # keeps every token: runs
        banded = model(input_ids=ids, attention_mask=mask).logits
    assert torch.isfinite(banded).all() and (banded - dense).abs().max() > 1e-4
    with pytest.raises(ConfigError, match="classifier_pooling"):  # a per-call config is checked the same way
        model(input_ids=ids, attention_mask=mask, leanbert_config=REDUCTIONS["fca-k1-weighted"])


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
    assert leanbert.backbones.supported_families() == ["bert", "camembert", "distilbert", "electra", "modernbert", "mpnet",
                                                       "roberta", "xlm-roberta"]
    assert isinstance(BertConfig(), BertConfig)


@pytest.mark.parametrize("name", [*(pytest.param(n, marks=pytest.mark.slow)
                                    for n in ("roberta", "electra", "distilbert", "modernbert")), "mpnet"])
def test_onnx_export_matches_pytorch(name, tmp_path):
    """Each family exports with its own inputs (no token_type_ids where it has no segments), reduction included."""
    pytest.importorskip("onnxruntime")
    from leanbert.deploy.export import export_and_verify

    model = build(name, "eager" if name == "mpnet" else "sdpa")
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(0.7, 0.5, 0.3)))
    info = export_and_verify(model, tmp_path / "m.onnx", lengths=(3, 9, 40), example_length=16)
    assert max(c["max_abs_diff"] for c in info["checks"]) <= info["tolerance"]


def test_a_modernbert_checkpoint_fine_tunes_and_evaluates_reduced(tmp_path, tiny_tokenizer, glue_dir):
    """End to end through the commands: a saved ModernBERT directory (a BERT word-piece tokenizer stands in for
    its own) fine-tunes, then evaluates dense and at 2x fewer FLOPs with ACC; FLOPs in the rows follow the
    gated feed-forward."""
    import json

    from typer.testing import CliRunner

    from leanbert.cli import app

    config = CONFIGS["modernbert"]()
    config.vocab_size = len(tiny_tokenizer)
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "mb")
    tiny_tokenizer.save_pretrained(tmp_path / "mb")
    r = CliRunner().invoke(app, ["finetune", "--task", "sst2", "--model", str(tmp_path / "mb"), "-o", str(tmp_path / "run"),
                                 "--data-dir", str(glue_dir), "--epochs", "1", "--batch-size", "8", "--max-length", "16"])
    assert r.exit_code == 0, r.output
    rows = tmp_path / "rows.jsonl"
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tmp_path / "run" / "best"), "--task", "sst2",
                                 "--data-dir", str(glue_dir), "--method", "acc", "--speedup", "1,2", "--max-length", "16",
                                 "--results", str(rows)])
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [row["target_speedup"] for row in out] == [1.0, 2.0] and all(0 <= row["score"] <= 100 for row in out)
    padded = out[-1]["gflops_padded"]  # the target is FLOPs at the padded task length
    assert padded["dense"] / padded["method"] >= 2 - 1e-6


def test_modernbert_outputs_and_inputs_as_hugging_face_gives_them():
    """The last hidden state entry is the output after the final norm; return_dict=False gives a tuple; a padded
    SDPA batch under reduction gives each row's logits alone; other position ids and a mean-pooling
    multiple-choice head are refused by name; the latency model's pieces run with positions."""
    from transformers import ModernBertForMultipleChoice

    from leanbert.measure.latency import LatencyModel

    model = build("modernbert", "sdpa", seed=9)
    leanbert.apply(model, REDUCTIONS["fca-k1-weighted"])
    ids, mask = make_batch(4, 14, padded=True, seed=10)
    with torch.no_grad():
        out = model.base_model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
        assert isinstance(model.base_model(input_ids=ids, attention_mask=mask, return_dict=False), tuple)
        batched = model(input_ids=ids, attention_mask=mask).logits
        for r in range(ids.shape[0]):
            n = int(mask[r].sum())
            alone = model(input_ids=ids[r:r + 1, :n], attention_mask=mask[r:r + 1, :n]).logits[0]
            torch.testing.assert_close(batched[r], alone, atol=1e-5, rtol=1e-5)
        with pytest.raises(ConfigError, match="position_ids"):
            model(input_ids=ids, attention_mask=mask, position_ids=torch.arange(14)[None] + 3)
    assert LatencyModel.fit(model, batch_size=2, lengths=(8, 16), min_run_time=0.01).layer_seconds(16, 8) > 0
    config = CONFIGS["modernbert"]()
    config.classifier_pooling = "mean"
    with pytest.raises(ConfigError, match="classifier_pooling"):
        leanbert.apply(ModernBertForMultipleChoice(config), REDUCTIONS["power-counts"])


def test_modernbert_sliding_layers_take_a_per_head_mask():
    """A per-head additive mask (B, H, N, N), as the learned soft band makes, combines with the window."""
    model = build("modernbert", "eager", seed=11)
    adapter = leanbert.backbones.FAMILIES["modernbert"]
    layer = model.base_model.layers[1]  # sliding, half window 3
    positions = torch.arange(10, dtype=torch.float32).expand(2, 10)
    state = adapter.position_bias(model.base_model, positions)
    combined = adapter._layer_mask(layer, torch.zeros(2, 4, 10, 10), torch.zeros(2, 10, 32), state)
    assert combined.shape == (2, 4, 10, 10)
    assert combined[0, 2, 0, 9] == torch.finfo(torch.float32).min and combined[0, 2, 0, 3] == 0  # |0-9| > 3 >= |0-3|


@pytest.mark.parametrize("name", list(CONFIGS))
def test_per_call_configs_and_records_reach_the_loop_on_every_family(name):
    """`model(..., leanbert_config=cfg)` runs cfg, as applying it does, and `leanbert_scores` / `leanbert_reductions`
    come back filled, whatever the family's forwards do with keyword arguments (Hugging Face's MPNet drops them:
    the call silently ran the applied config and the elastic recipe's teacher pass found no scores)."""
    applied, per_call = build(name, seed=5).double(), build(name, seed=5).double()
    config = REDUCTIONS["power-counts"]
    leanbert.apply(applied, config)
    leanbert.apply(per_call, leanbert.PowerConfig(keep_fractions=(1.0, 1.0, 1.0)))
    ids, mask = make_batch(2, 12, padded=False, seed=6)
    scores, reductions = [], []
    with torch.no_grad():
        expected = applied(input_ids=ids, attention_mask=mask).logits
        got = per_call(input_ids=ids, attention_mask=mask, leanbert_config=config, leanbert_scores=scores,
                       leanbert_reductions=reductions).logits
        plain = per_call(input_ids=ids, attention_mask=mask).logits  # the next call: nothing carried over
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)
    assert len(scores) == 3 and [r[0] for r in reductions] == [0, 1, 2]
    assert not torch.allclose(plain, expected)
    leanbert.remove(per_call)
    assert not per_call._forward_pre_hooks and not per_call._forward_hooks  # remove() takes the hooks away


def test_a_failed_call_leaves_nothing_for_the_next_one():
    model = build("mpnet", seed=5).double()
    leanbert.apply(model, leanbert.PowerConfig(keep_fractions=(1.0, 1.0, 1.0)))
    ids, mask = make_batch(2, 12, padded=False, seed=6)
    with torch.no_grad():
        dense = model(input_ids=ids, attention_mask=mask).logits
        with pytest.raises(Exception):
            model(input_ids=ids[:, :0], attention_mask=mask, leanbert_config=REDUCTIONS["power-counts"])
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, dense, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", ["mpnet", "modernbert"])
def test_a_half_precision_model_carries_exact_positions_past_256(name, monkeypatch):
    """bf16 holds integers exactly only up to 256: the positions a family's attention reads (MPNet's relative
    bias, ModernBERT's rotary angles and window) are carried in float32, so token 257 stays at 257."""
    config = CONFIGS[name]()
    config.max_position_embeddings, n = 320, 300
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval().bfloat16()
    adapter = type(leanbert.backbones.for_model(model))
    seen, original = [], adapter.position_bias
    monkeypatch.setattr(adapter, "position_bias", lambda self, enc, pos: seen.append(pos) or original(self, enc, pos))
    leanbert.apply(model, leanbert.PowerConfig(keep_counts=(290, 200, 100)))
    ids = torch.randint(3, 64, (1, n))
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float()).all()
    assert len(seen) == 4  # the start and one per reducing layer
    assert all(p.dtype == torch.float32 for p in seen)
    torch.testing.assert_close(seen[0][0], torch.arange(n, dtype=torch.float32), atol=0, rtol=0)
    for before, after in zip(seen, seen[1:]):  # dropping: survivors keep their exact original positions
        assert torch.equal(after, after.round()) and set(after[0].tolist()) <= set(before[0].tolist())
