"""Inference batching: length-sorted batches, and equal-length batches for fraction-based configs."""
from leanbert.batching import EncodedDataset, sorted_batches


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
