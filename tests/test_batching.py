"""Inference batching: length-sorted batches, and equal-length batches for fraction-based configs."""
import numpy as np
from conftest import SENTENCES_NEG, SENTENCES_POS, SPECIALS, WORDS, tiny_model

from leanbert.engine.api import apply
from leanbert.data.batching import EncodedDataset, encode, sorted_batches
from leanbert.methods.power.config import PowerConfig
from leanbert.data.datasets import Example
from leanbert.measure.evaluation import predict
from leanbert.data.tasks import GLUE_TASKS


def _dataset(lengths):
    return EncodedDataset([{"input_ids": [1] * n} for n in lengths], [0] * len(lengths))


def test_sorted_batches_cover_every_example_once_in_length_order():
    ds = _dataset([5, 3, 9, 3, 7, 5, 5])
    batches = sorted_batches(ds, 3)
    assert sorted(i for b in batches for i in b) == list(range(7))
    flat = [len(ds.features[i]["input_ids"]) for b in batches for i in b]
    assert flat == sorted(flat) and [len(b) for b in batches] == [3, 3, 1]


def test_equal_length_batches_hold_one_length_and_respect_the_batch_size():
    lengths = [5, 3, 9, 3, 7, 5, 5, 5, 5]
    ds = _dataset(lengths)
    batches = sorted_batches(ds, 2, equal_length=True)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len({lengths[i] for i in b}) == 1 and len(b) <= 2 for b in batches)
    # five examples of length 5 -> three batches (2, 2, 1); lengths 3, 7, 9 -> one batch each
    assert sorted(len(b) for b in batches if lengths[b[0]] == 5) == [1, 2, 2]
    assert len(batches) == 6


def test_fraction_config_scores_each_example_alone_when_batches_hold_one_length(tiny_tokenizer):
    """With equal-length batches an example's output under a fraction config does not depend on which other
    examples share the sample (the LAT search relies on it); length-sorted batches of mixed lengths do."""
    spec = GLUE_TASKS["stsb"]  # regression: predict returns the raw output, so any change shows
    texts = SENTENCES_POS + SENTENCES_NEG + ["the cat sat on the mat and the dog sat on it very good"]
    examples = [Example(t, None, 1.0) for t in texts]
    ds, _ = encode(tiny_tokenizer, examples, 32)
    model = apply(tiny_model(layers=3, num_labels=1, vocab_size=len(SPECIALS) + len(WORDS)),
                  PowerConfig(keep_fractions=(0.5, 0.5, 0.5)))
    order = sorted(range(len(ds)), key=lambda i: len(ds.features[i]["input_ids"]))  # predict's output order
    alone = np.array([predict(model, tiny_tokenizer, encode(tiny_tokenizer, [examples[i]], 32)[0], spec)[0][0]
                      for i in order])
    together, _ = predict(model, tiny_tokenizer, ds, spec, batch_size=64, equal_length=True)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    mixed, _ = predict(model, tiny_tokenizer, ds, spec, batch_size=64)
    assert not np.allclose(mixed, alone, atol=1e-5)  # one wide batch: short rows keep more of their tokens
