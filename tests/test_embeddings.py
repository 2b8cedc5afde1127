"""Sentence embeddings of reduced encoders: pooling accounts for every token, the dense path is plain mean
pooling, order and resume hold, bad input gets one line, and sentence-transformers models run reduced."""
import json

import numpy as np
import pytest
import torch
from transformers import BertModel

import leanbert
from leanbert.embeddings import embed, files, pool
from leanbert.embeddings.st import apply as st_apply
from tests.conftest import SPECIALS, WORDS, make_batch, run_cli, tiny_config

TEXTS = ["good movie", "the cat sat on the mat and it was very nice", "hello", "not bad",
         "a dog sat on a mat", "the film was awful and the plot was poor and sad", "hello world", "great"]
CONFIGS = {"tome": leanbert.TomeConfig(keep_fractions=(0.7, 0.5, 0.4)),
           "power": leanbert.PowerConfig(keep_fractions=(0.7, 0.5, 0.4)),
           "fca": leanbert.FCAConfig(keep_fractions=(0.7, 0.5, 0.4), coarse=1)}


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return BertModel(tiny_config(vocab_size=len(SPECIALS) + len(WORDS)), add_pooling_layer=False).eval()


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("rule", ["exit", "survivors"])
def test_pooling_weights_sum_to_the_original_token_count(encoder, name, rule):
    ids, mask = make_batch(batch=3, length=14)
    leanbert.apply(encoder, CONFIGS[name])
    reductions = []
    with torch.no_grad():
        out = encoder(input_ids=ids.clamp(max=encoder.config.vocab_size - 1), attention_mask=mask,
                      leanbert_reductions=reductions)
    assert reductions and out.last_hidden_state.shape[1] < ids.shape[1]
    pooled = pool(out.last_hidden_state, mask, reductions, rule)
    if rule == "exit" or name == "tome":  # merged tokens carry their sizes; `exit` also counts what left
        torch.testing.assert_close(pooled.weight, mask.sum(dim=1).float())
    else:  # survivors: only what is still there at the end
        assert (pooled.weight < mask.sum(dim=1)).all()


def _plain_mean(encoder, tokenizer, texts):
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = encoder(**batch).last_hidden_state  # (B, N, D)
    m = batch["attention_mask"][..., None].float()
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()


def test_no_reduction_equals_plain_mean_pooling(encoder, tiny_tokenizer):
    expected = _plain_mean(encoder, tiny_tokenizer, TEXTS)
    np.testing.assert_allclose(embed(encoder, tiny_tokenizer, TEXTS, batch_size=3), expected, atol=1e-5)
    keep_all = leanbert.PowerConfig(keep_fractions=(1.0, 1.0, 1.0))  # patched, nothing removed
    np.testing.assert_allclose(embed(encoder, tiny_tokenizer, TEXTS, keep_all), expected, atol=1e-5)
    assert leanbert.current_config(encoder) is None  # the config was applied for the call only


@pytest.mark.parametrize("name", ["tome", "power"])
def test_order_restored_and_each_text_alone(encoder, tiny_tokenizer, name):
    together = embed(encoder, tiny_tokenizer, TEXTS, CONFIGS[name], batch_size=3)
    alone = np.stack([embed(encoder, tiny_tokenizer, [t], CONFIGS[name])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # one length per batch: no neighbour effects
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0)


def test_interrupted_embed_resumes_without_duplicates(tmp_path, tiny_model_dir, monkeypatch, capsys):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS * 2) + "\n", encoding="utf-8")
    monkeypatch.setattr(files, "CHUNK", 3)
    whole = tmp_path / "whole.npy"
    assert run_cli("embed", tiny_model_dir, "-i", source, "-o", whole, "--speedup", "1.5", "--no-progress") == 0
    writes, real_write = [], files.ChunkStore.write

    def failing(self, index, rows):
        if len(writes) == 2:
            raise KeyboardInterrupt
        writes.append(index)
        real_write(self, index, rows)

    monkeypatch.setattr(files.ChunkStore, "write", failing)
    out = tmp_path / "out.jsonl"
    assert run_cli("embed", tiny_model_dir, "-i", source, "-o", out, "--speedup", "1.5", "--no-progress") == 130
    assert not out.exists() and len(list((tmp_path / "out.jsonl.partial").glob("part-*.npy"))) == 2
    monkeypatch.setattr(files.ChunkStore, "write", real_write)
    assert run_cli("embed", tiny_model_dir, "-i", source, "-o", out, "--speedup", "1.5", "--no-progress") == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["resumed"] == 6
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(2 * len(TEXTS)))
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), np.load(whole), atol=1e-6)
    assert not (tmp_path / "out.jsonl.partial").exists()


@pytest.mark.parametrize("content, message", [
    (b"good movie\n\nhello\n", "line 2: the text is empty"),
    (b"good movie\n \t\x00\n", "line 2: the text is empty"),
    (b"good\nmovie \xff\xfe\n", "not UTF-8 text (byte 0xff on line 2)"),
])
def test_bad_input_gives_one_line(tmp_path, tiny_model_dir, capsys, content, message):
    source = tmp_path / "in.txt"
    source.write_bytes(content)
    assert run_cli("embed", tiny_model_dir, "-i", source, "-o", tmp_path / "o.npy") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_odd_unicode_and_huge_lines_are_embedded(tmp_path, tiny_model_dir, capsys):
    source = tmp_path / "in.jsonl"
    odd = ["caf\u00e9 \U0001F600 \u05e9\u05dc\u05d5\u05dd", "e\u0301\u200d", "good " * 200_000]
    source.write_text("\n".join(json.dumps({"text": t}) for t in odd) + "\n\n", encoding="utf-8")
    assert run_cli("embed", tiny_model_dir, "-i", source, "-o", tmp_path / "o.npy", "--max-length", "16",
                "--no-progress") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["texts"] == 3 and summary["truncated"] == 1
    assert np.load(tmp_path / "o.npy").shape == (3, 32)


def test_sentence_transformers_runs_the_reduced_model(tiny_model_dir, tiny_tokenizer):
    st = pytest.importorskip("sentence_transformers")
    try:  # releases before 6 keep the modules in sentence_transformers.models
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules
    model = st.SentenceTransformer(modules=[modules.Transformer(str(tiny_model_dir)), modules.Pooling(32, "mean"),
                                            modules.Normalize()], device="cpu")
    dense = model.encode(TEXTS)
    st_apply(model, CONFIGS["tome"])
    reduced = model.encode(TEXTS, batch_size=1)  # alone, as embed() batches: no padding in the keep counts
    inner = model[0].model
    inner.__dict__.pop("forward")  # the plain patched model, pooled by leanbert's API
    expected = embed(inner, tiny_tokenizer, TEXTS, CONFIGS["tome"])
    np.testing.assert_allclose(reduced, expected, atol=1e-5)
    assert not np.allclose(reduced, dense, atol=1e-3)


def test_modernbert_embeds_with_merges_and_survivors_but_refuses_exit_pooling_of_drops(tiny_tokenizer):
    """ModernBERT's final norm follows the last layer: a dropped token's exit state never passed it, so `exit`
    pooling of drops is refused by name; merges (ToMe) and the `survivors` rule run, and keeping every token
    equals plain mean pooling."""
    from transformers import ModernBertConfig, ModernBertModel

    from leanbert.errors import ConfigError

    torch.manual_seed(0)
    model = ModernBertModel(ModernBertConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=3,
                                             num_attention_heads=4, intermediate_size=64, local_attention=6,
                                             global_attn_every_n_layers=2, pad_token_id=0)).eval()
    np.testing.assert_allclose(embed(model, tiny_tokenizer, TEXTS, leanbert.PowerConfig(keep_fractions=(1.0,) * 3)),
                               _plain_mean(model, tiny_tokenizer, TEXTS), atol=1e-5)
    with pytest.raises(ConfigError, match="'exit'.*modernbert.*survivors"):
        embed(model, tiny_tokenizer, TEXTS, CONFIGS["power"])
    for config, rule in ((CONFIGS["power"], "survivors"), (CONFIGS["tome"], "exit")):
        out = embed(model, tiny_tokenizer, TEXTS, config, rule=rule)
        assert np.isfinite(out).all() and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
