"""The syntax pattern: tree distances, word-piece mapping, batching, and the mask through the model call."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import leanbert
from leanbert.core import patterns
from leanbert.data import syntax
from leanbert.data.batching import encode, make_collate
from leanbert.methods.acc.config import ACCConfig
from leanbert.methods.sparse.config import SparseConfig
from leanbert.data.datasets import Example
from leanbert.errors import ConfigError

from conftest import tiny_model

U = syntax.UNLINKED


def test_tree_distances_by_hand():
    # "the cat sat on mats": the->cat, cat->sat, sat root, on->sat, mats->on
    d = syntax.tree_distances([1, 2, 2, 2, 3])
    assert d.dtype == np.uint8
    assert d.tolist() == [[0, 1, 2, 3, 4],
                          [1, 0, 1, 2, 3],
                          [2, 1, 0, 1, 2],
                          [3, 2, 1, 0, 1],
                          [4, 3, 2, 1, 0]]


def test_two_sentences_are_unlinked():
    d = syntax.tree_distances([1, 1, 3, 3])  # two roots: two trees
    assert d[0, 1] == 1 and d[2, 3] == 1 and d[0, 2] == U and d[1, 3] == U
    assert syntax.tree_distances([]).shape == (0, 0)


def test_piece_words_maps_sub_words_and_both_texts():
    # [CLS] un ##believ ##able cats [SEP] dogs [SEP]; text a = "unbelievable cats", text b = "dogs"
    offsets = [(0, 0), (0, 2), (2, 8), (8, 12), (13, 17), (0, 0), (0, 4), (0, 0)]
    seq = [None, 0, 0, 0, 0, None, 1, None]
    words = syntax.piece_words(offsets, seq, [[0, 13], [0]])
    assert words == [-1, 0, 0, 0, 1, -1, 2, -1]


def test_piece_distances_pads_and_specials_unlinked():
    tree = syntax.tree_distances([1, 1])  # two words, one edge
    d = syntax.piece_distances([-1, 0, 0, 1, -1], tree, n=7)
    assert d.shape == (7, 7)
    assert d[1, 2] == 0 and d[1, 3] == 1 and d[2, 3] == 1  # pieces of one word: 0 apart
    assert (d[0] == U).all() and (d[:, 4] == U).all() and (d[5:] == U).all()  # specials, pads


def test_syntax_pattern_allows_within_hops_plus_diagonal():
    dist = torch.tensor([[[0, 1, 2], [1, 0, 1], [2, 1, 0]]], dtype=torch.uint8)
    links = patterns.syntax(dist, 1, 3)
    assert links.tolist() == [[[True, True, False], [True, True, True], [False, True, True]]]
    with pytest.raises(ConfigError, match="leanbert_syntax"):
        patterns.syntax(None, 1, 3)
    with pytest.raises(ConfigError, match="shape"):
        patterns.syntax(dist, 1, 4)


def test_config_validation():
    cfg = SparseConfig.for_layers(3, syntax_hops=1, global_cls=False)
    assert not cfg.is_banded
    with pytest.raises(ConfigError, match="syntax_hops"):
        SparseConfig.for_layers(3, syntax_hops=-1)
    with pytest.raises(ConfigError, match="pattern"):  # composing with reduction would misalign the parse
        ACCConfig(keep_fractions=(1.0, 0.5, 0.5), pattern=cfg)
    assert leanbert.engine.config.config_from_dict(cfg.to_dict()) == cfg


class FakeParser:
    """Stands in for spaCy in the fast tests: every word's head is the next word, the last is the root."""

    def pipe(self, texts, batch_size=256):
        class Tok:
            def __init__(self, idx, i):
                self.idx, self.i, self.head = idx, i, self

        for text in texts:
            starts, pos = [], 0
            for w in text.split():
                pos = text.index(w, pos)
                starts.append(pos)
                pos += len(w)
            toks = [Tok(s, i) for i, s in enumerate(starts)]
            for i, t in enumerate(toks):
                t.head = toks[min(i + 1, len(toks) - 1)]
            yield toks


def test_batches_carry_distances_and_the_model_masks_by_them(tiny_tokenizer):
    examples = [Example("the cat sat on mat", None, 1), Example("good movie", None, 0)]
    ds, _ = encode(tiny_tokenizer, examples, 16)
    syntax.attach(ds, tiny_tokenizer, 16, nlp=FakeParser())
    syntax.attach(ds, tiny_tokenizer, 16, nlp=FakeParser())  # idempotent
    batch = make_collate(tiny_tokenizer, regression=False)([ds[0], ds[1]])
    dist = batch[syntax.KWARG]
    assert dist.shape == (2, 7, 7)  # [CLS] 5 words [SEP]
    assert dist[0, 1, 2] == 1 and dist[0, 1, 5] == 4 and dist[0, 0, 1] == U
    assert (dist[1, 4:] == U).all()  # pads of the short row
    assert "syntax_words" in ds.features[0]  # collating did not consume the dataset

    model = tiny_model(vocab_size=tiny_tokenizer.vocab_size)
    labels = batch.pop("labels")
    cfg = SparseConfig.for_layers(3, syntax_hops=1, global_cls=True)
    leanbert.apply(model, cfg)
    out = model(**batch).logits
    assert torch.isfinite(out).all()
    # the same pattern given as an explicit mask: equal outputs (the parse reaches the attention mask)
    key_mask = batch["attention_mask"].bool()
    allowed = patterns.finalize(patterns.syntax(dist, 1, 7) | patterns.global_tokens(7, [0]), key_mask)
    method = leanbert.engine.registry.build_method(cfg)
    got = method.allowed_pairs(0, key_mask, None, dist)
    assert torch.equal(got, allowed)
    assert len(labels) == 2
    no_parse = {k: v for k, v in batch.items() if k != syntax.KWARG}
    with pytest.raises(ConfigError, match="leanbert_syntax"):
        model(**no_parse)
    # a dense model ignores the parse: outputs equal to the call without it
    leanbert.remove(model)
    assert torch.allclose(model(**batch).logits, model(**no_parse).logits)


def test_attach_with_pairs(tiny_tokenizer):
    ds, _ = encode(tiny_tokenizer, [Example("the cat sat", "a dog sat", 1)], 16)
    syntax.attach(ds, tiny_tokenizer, 16, nlp=FakeParser())
    words = ds.features[0]["syntax_words"]
    assert words == [-1, 0, 1, 2, -1, 3, 4, 5, -1]
    tree = ds.features[0]["syntax_tree"]
    assert tree[0, 2] == 2 and tree[3, 5] == 2 and tree[0, 3] == U  # no links across the two texts


@pytest.mark.slow
def test_real_parser_on_a_sentence(tiny_tokenizer):
    pytest.importorskip(syntax.PARSER_PACKAGE)
    (starts, heads), = syntax.parse(["the cat sat on the mat"])
    assert starts == [0, 4, 8, 12, 15, 19]
    d = syntax.tree_distances(heads)
    assert d[1, 2] == 1  # cat -- sat (nsubj)
    assert d[0, 1] == 1  # the -- cat (det)
    assert d[0, 5] >= 3


@pytest.mark.slow
def test_evaluate_command_with_syntax_hops(tiny_model_dir, glue_dir):
    pytest.importorskip(syntax.PARSER_PACKAGE)
    import json

    from typer.testing import CliRunner

    from leanbert.cli import app

    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir",
                                 str(glue_dir), "--method", "sparse", "--syntax-hops", "1", "--no-global-cls"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output.strip().splitlines()[-1])
    assert row["variant"] == "sparse-w0-r0-syn1-from0" and 0 < row["sparsity"] < 1
    assert set(row["sparsity_by_layer"]) == {"0", "1", "2"}  # reported per patterned layer
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir",
                                 str(glue_dir), "--method", "acc", "--speedup", "2", "--syntax-hops", "1"])
    assert r.exit_code != 0 and "syntax pattern cannot be composed" in str(r.exception or r.output)


@pytest.mark.slow
def test_real_parser_on_odd_inputs(tiny_tokenizer):
    """Empty text, emoji, combining accents, tabs, and a text truncated by max_length: finite distances, every
    real piece linked to itself (0 on the diagonal for word pieces), specials unlinked."""
    pytest.importorskip(syntax.PARSER_PACKAGE)
    texts = ["", "good \U0001F600 movie", "cafe\u0301 was fine", "the\tcat  sat", " ".join(["good movie"] * 40)]
    ds, truncated = encode(tiny_tokenizer, [Example(t, None, 1) for t in texts], 16)
    assert truncated == 1
    syntax.attach(ds, tiny_tokenizer, 16)
    for features in ds.features:
        n = len(features["input_ids"])
        d = syntax.collate_distances([features], n)[0]
        words = torch.tensor(features["syntax_words"])
        assert d.shape == (n, n) and len(words) == n
        real = words >= 0
        assert (d.diagonal()[real] == 0).all() and (d.diagonal()[~real] == U).all()
        assert (d[~real] == U).all()


def test_missing_parser_package_names_the_install(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == syntax.PARSER_PACKAGE:
            raise ImportError(name)
        return real(name, *a, **k)

    syntax.load_parser.cache_clear()
    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ConfigError, match=r"leanbert\[syntax\]"):
        syntax.load_parser()
    syntax.load_parser.cache_clear()
