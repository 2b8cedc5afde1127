"""Tokenising examples and making batches: dynamic padding, and length-sorted buckets for inference."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from . import syntax
from .datasets import Example
from ..errors import ConfigError

MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")
# Per-example teacher outputs cached in the features (elastic recipe): the logits, and the teacher's token
# importance over the example's tokens (padded with 0 to the batch length)
TEACHER_LOGITS, TEACHER_IMPORTANCE = "teacher_logits", "teacher_importance"


class EncodedDataset(Dataset):
    def __init__(self, features: list[dict], labels: list, examples: list[Example] | None = None):
        self.features, self.labels = features, labels
        self.examples = examples  # the texts, for inputs derived later (syntax.attach)

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i], self.labels[i]

    def lengths(self) -> list[int]:
        return [len(f["input_ids"]) for f in self.features]


def check_max_length(tokenizer, model_config, max_length: int) -> int:
    from ..backbones import for_config

    limit = for_config(model_config).max_length(model_config)
    if not 2 <= max_length <= limit:
        raise ConfigError(f"invalid config field 'max_length': {max_length} is outside [2, {limit}] "
                          f"(the model's maximum number of positions)")
    return max_length


def encode(tokenizer, examples: list[Example], max_length: int) -> tuple[EncodedDataset, int]:
    """Tokenise; texts longer than max_length are truncated (returned: how many were)."""
    a = [e.text_a for e in examples]
    b = None if examples and examples[0].text_b is None else [e.text_b for e in examples]
    enc = tokenizer(a, b, truncation=True, max_length=max_length, return_overflowing_tokens=False)
    full = tokenizer(a, b, truncation=False, add_special_tokens=True)["input_ids"] if examples else []
    truncated = sum(len(f) > max_length for f in full)
    keys = [k for k in MODEL_INPUTS if k in enc]
    features = [{k: enc[k][i] for k in keys} for i in range(len(examples))]
    return EncodedDataset(features, [e.label for e in examples], examples), truncated


def make_collate(tokenizer, regression: bool, pad_to: int | None = None):
    def collate(items):
        features = [f for f, _ in items]
        padded = [{k: v for k, v in f.items() if k in MODEL_INPUTS} for f in features]
        batch = tokenizer.pad(padded, padding="max_length" if pad_to else "longest", max_length=pad_to,
                              return_tensors="pt")
        distances = syntax.collate_distances(features, batch["input_ids"].shape[1])
        if distances is not None:  # the syntax pattern's per-example input, passed through the model call
            batch[syntax.KWARG] = distances
        if TEACHER_LOGITS in features[0]:
            batch[TEACHER_LOGITS] = torch.tensor([f[TEACHER_LOGITS] for f in features])  # (B, C)
            width = batch["input_ids"].shape[1]
            batch[TEACHER_IMPORTANCE] = torch.tensor(
                [f[TEACHER_IMPORTANCE] + [0.0] * (width - len(f[TEACHER_IMPORTANCE])) for f in features])  # (B, N)
        labels = [label for _, label in items]
        if labels[0] is not None:
            batch["labels"] = torch.tensor(labels, dtype=torch.float if regression else torch.long)
        return dict(batch)

    return collate


def train_loader(ds: EncodedDataset, tokenizer, batch_size: int, regression: bool, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g, collate_fn=make_collate(tokenizer, regression))


class BucketedBatches:
    """Shuffled batches of similar length for training: the shuffled order is cut into pools of `pool`
    batches, each pool sorted by length and cut into batches, and the batches shuffled. Fraction-based keep
    counts follow the batch's padded length, so a batch mixing a 20-token and a 100-token row would let the
    short row keep all its tokens: bucketing trains each row at close to the pruning it gets at inference.
    Deterministic per (seed, epoch); accelerate calls set_epoch."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, pool: int = 50):
        self.lengths, self.batch_size, self.seed, self.pool, self.epoch = lengths, batch_size, seed, pool, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        import random

        rng = random.Random(self.seed * 100_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        size = self.batch_size * self.pool
        batches = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start:start + size], key=lambda i: self.lengths[i])
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return iter(batches)

    def __len__(self):
        size = self.batch_size * self.pool
        full, rest = divmod(len(self.lengths), size)
        return full * self.pool + (-(-rest // self.batch_size))


def bucketed_train_loader(ds: EncodedDataset, tokenizer, batch_size: int, regression: bool, seed: int) -> DataLoader:
    return DataLoader(ds, batch_sampler=BucketedBatches(ds.lengths(), batch_size, seed),
                      collate_fn=make_collate(tokenizer, regression))


def sorted_batches(ds: EncodedDataset, batch_size: int, equal_length: bool = False) -> list[list[int]]:
    """Indices grouped into batches of similar length (what a user serving a model would do), or, with
    `equal_length`, of exactly one length each: a config given as fractions of the batch's padded length then
    keeps the same tokens of an example whatever else is in the sample, which is what its per-example FLOPs
    count assumes (a wide batch lets its short rows keep all their tokens)."""
    order = sorted(range(len(ds)), key=lambda i: len(ds.features[i]["input_ids"]))
    if not equal_length:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    by_length: dict[int, list[int]] = {}
    for i in order:
        by_length.setdefault(len(ds.features[i]["input_ids"]), []).append(i)
    return [same[i:i + batch_size] for same in by_length.values() for i in range(0, len(same), batch_size)]


def eval_loader(ds: EncodedDataset, tokenizer, batch_size: int, regression: bool, pad_to: int | None = None,
                equal_length: bool = False) -> DataLoader:
    """Length-bucketed batches with dynamic padding, or every batch padded to `pad_to` (the papers' protocol)."""
    return DataLoader(ds, batch_sampler=sorted_batches(ds, batch_size, equal_length),
                      collate_fn=make_collate(tokenizer, regression, pad_to))
