"""The elastic training recipe: one fine-tuning after which the model runs well at every budget.

Every step (the sandwich rule, LAT; with distillation, ToP's ranking distillation added):
  full model      task loss + teacher_weight * KD(teacher logits) + rank_weight * ranking distillation
                  of every layer's ACC scores towards the dense teacher's last-layer token importance;
  smallest + n random profiles   KD from the full model's detached logits (in-place distillation; the task
                  loss instead when `inplace_distillation` is off) + teacher_weight * KD(teacher logits).
The smallest profile is the geometric one at the top of the speedup range; random profiles have a random
shape (profiles.random_shape) projected onto a random budget drawn log-uniformly from the range. Teacher
outputs are computed once before training and travel in the batches (batching.TEACHER_*): the teacher is
frozen, so caching is exact and saves a forward pass per step.

A slice of the training data is held out of this stage (`split_held_out`): the profile search runs on it.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ...data.held_out import SEARCH_FRACTION, SEARCH_MAX, split_search_slice
from ...data.batching import TEACHER_IMPORTANCE, TEACHER_LOGITS, sorted_batches, make_collate
from ...methods.acc.config import ACCConfig
from ...errors import ConfigError
from ...measure.flops import model_dims
from ...engine.patch import SCORES_KWARG
from ...methods.acc import profiles
from . import losses


@dataclass(frozen=True)
class ElasticRecipe:
    teacher: str  # the dense fine-tuned checkpoint (the student starts from it too, by default)
    speedup_range: tuple[float, float] = (1.25, 3.0)
    sandwich: bool = True  # full + smallest + n_random per step; off: one random profile per step
    n_random: int = 2
    inplace_distillation: bool = True
    teacher_weight: float = 1.0
    rank_weight: float = 1.0
    held_out_fraction: float = SEARCH_FRACTION
    held_out_max: int = SEARCH_MAX
    score: str = "acc"

    def __post_init__(self):
        object.__setattr__(self, "speedup_range", tuple(float(x) for x in self.speedup_range))
        lo, hi = self.speedup_range
        if not (math.isfinite(lo) and math.isfinite(hi) and 1.0 <= lo < hi):
            raise ConfigError(f"invalid config field 'speedup_range': need 1 <= lo < hi, got {lo},{hi}")
        if not (isinstance(self.n_random, int) and 0 <= self.n_random <= 8):
            raise ConfigError(f"invalid config field 'n_random': need an integer in [0, 8], got {self.n_random!r}")
        for name in ("teacher_weight", "rank_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"invalid config field '{name}': need a finite number >= 0, got {value!r}")
        if not 0 < self.held_out_fraction < 0.5 or self.held_out_max < 1:
            raise ConfigError("invalid config field 'held_out_fraction': need 0 < fraction < 0.5 and max >= 1")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def split_held_out(examples: list, recipe: ElasticRecipe, seed: int) -> tuple[list, list]:
    """(examples trained on, held-out slice for the profile search): a seeded sample, disjoint by index."""
    return split_search_slice(examples, seed, recipe.held_out_fraction, recipe.held_out_max)


def full_config(num_layers: int, score: str = "acc") -> ACCConfig:
    return ACCConfig(keep_fractions=(1.0,) * num_layers, score=score)


@torch.inference_mode()
def cache_teacher(ds, tokenizer, recipe: ElasticRecipe, regression: bool, cache_file: Path | None = None) -> None:
    """Put the teacher's logits and last-layer token importance into every feature of `ds` (in place)."""
    from ...engine.api import apply
    from ...engine.models import load_classifier

    key = hashlib.sha256(repr([f["input_ids"] for f in ds.features]).encode()).hexdigest()[:16]
    if cache_file is not None and cache_file.is_file():
        saved = torch.load(cache_file, weights_only=True)
        if saved.get("key") == key:
            return _attach(ds, saved["logits"], saved["importance"])
    teacher = load_classifier(recipe.teacher)
    apply(teacher, full_config(teacher.config.num_hidden_layers, recipe.score)).eval()
    collate = make_collate(tokenizer, regression)
    logits, importance = [None] * len(ds), [None] * len(ds)
    for batch_ids in sorted_batches(ds, 64):
        batch = collate([ds[i] for i in batch_ids])
        batch.pop("labels", None)
        record = []
        out = teacher(**batch, **{SCORES_KWARG: record}).logits  # (B, C)
        last = record[-1][0]  # (B, N): the last layer's ACC shares
        for row, i in enumerate(batch_ids):
            logits[i] = out[row].tolist()
            importance[i] = last[row, :len(ds.features[i]["input_ids"])].tolist()
    if cache_file is not None:
        torch.save({"key": key, "logits": logits, "importance": importance}, cache_file)
    _attach(ds, logits, importance)


def _attach(ds, logits, importance) -> None:
    for f, lg, imp in zip(ds.features, logits, importance):
        f[TEACHER_LOGITS], f[TEACHER_IMPORTANCE] = lg, imp


class ElasticLoss:
    """The per-step loss; `profile_histogram` is the training lengths' histogram the random budgets refer to."""

    def __init__(self, recipe: ElasticRecipe, hf_config, lengths: list[int], regression: bool, seed: int):
        self.recipe, self.regression = recipe, regression
        self.layers = hf_config.num_hidden_layers
        self.dims = model_dims(hf_config)
        self.histogram = profiles.coarse_histogram(lengths)
        self.rng = random.Random(seed)
        self.full = full_config(self.layers, recipe.score)
        flat = profiles.seed_shapes(self.layers)[0]
        self.smallest = profiles.project(flat, recipe.speedup_range[1], self.histogram, self.dims, score=recipe.score)
        if self.smallest is None:
            raise ConfigError(f"invalid config field 'speedup_range': {recipe.speedup_range[1]}x is beyond what this "
                              f"model allows on these inputs")

    def random_profile(self):
        lo, hi = self.recipe.speedup_range
        target = math.exp(self.rng.uniform(math.log(lo), math.log(hi)))
        shape = profiles.random_shape(self.layers, self.rng)
        return (profiles.project(shape, target, self.histogram, self.dims, score=self.recipe.score)
                or profiles.project(profiles.seed_shapes(self.layers)[0], target, self.histogram, self.dims,
                                    score=self.recipe.score))

    def sub_profiles(self) -> list:
        if not self.recipe.sandwich:
            return [self.random_profile()]
        return [self.smallest] + [self.random_profile() for _ in range(self.recipe.n_random)]

    def __call__(self, model, batch: dict) -> torch.Tensor:
        r, reg = self.recipe, self.regression
        batch = dict(batch)
        teacher, importance = batch.pop(TEACHER_LOGITS), batch.pop(TEACHER_IMPORTANCE)
        labels = batch.pop("labels")
        record = [] if r.rank_weight > 0 else None
        extra = {SCORES_KWARG: record} if record is not None else {}
        full = model(**batch, leanbert_config=self.full, **extra).logits  # (B, C)
        total = losses.task_loss(full, labels, reg)
        if r.teacher_weight:
            total = total + r.teacher_weight * losses.distillation(full, teacher, reg)
        if record:
            rank = sum(losses.ranking_distillation(s, importance, m) for s, m in record) / len(record)
            total = total + r.rank_weight * rank
        target = full.detach()
        for config in self.sub_profiles():
            logits = model(**batch, leanbert_config=config).logits
            use_full = r.inplace_distillation and r.sandwich
            sub = losses.distillation(logits, target, reg) if use_full else losses.task_loss(logits, labels, reg)
            if r.teacher_weight:
                sub = sub + r.teacher_weight * losses.distillation(logits, teacher, reg)
            total = total + sub
        return total
