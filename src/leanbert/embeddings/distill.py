"""Self-distillation of a sentence-embedding encoder for token reduction (issue 21): one checkpoint whose reduced
embeddings stay close to the dense model's at every speedup of a range.

Every step (the sandwich rule, as the elastic recipe's; no labels anywhere, only text):
  full model          1 - cos(student at full length, dense teacher)  -- keeps the dense path where it was;
  smallest + n random 1 - cos(student at that speedup, dense teacher)
The smallest profile is the geometric one for the top of the range, random ones a geometric profile for a budget
drawn log-uniformly from the range: the same `config_for` profiles `embed --speedup s` runs, so training covers
exactly what inference uses. The teacher is the starting model, frozen: its embeddings are computed once (exact,
and a forward pass per step saved). Dropout is off (the model trains in eval mode): the targets are dropout-free
and the short runs here gain nothing from the noise. Pooling is the inference pooling (`mean_pool`, rule `exit`
for dropping methods), normalised, so the loss is on the embeddings users get.

Batches hold one token length each (`encode.sorted_batches`), in a seeded random order: a reduced model keeps a
fraction of the padded length, so equal lengths make every text train at the budget its FLOPs count says.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import ConfigError

DISTILL_KEY = "leanbert_embedding_distillation"  # in config.json: the recipe a checkpoint was distilled with


@dataclass(frozen=True)
class DistillRecipe:
    method: str = "tome"  # the reduction trained for (any profiled method: tome, power, acc)
    speedup_range: tuple[float, float] = (1.25, 4.0)
    n_random: int = 2
    full_weight: float = 1.0  # 0: the full-length model is not trained (its embeddings may drift)
    rule: str = "exit"
    epochs: float = 1.0
    lr: float = 2e-5
    batch_size: int = 32
    seed: int = 42

    def __post_init__(self):
        from .encode import METHODS
        from .pooling import RULES

        object.__setattr__(self, "speedup_range", tuple(float(x) for x in self.speedup_range))
        if len(self.speedup_range) != 2:
            raise ConfigError(f"invalid config field 'speedup_range': need two numbers lo,hi, got {self.speedup_range}")
        lo, hi = self.speedup_range
        if not (math.isfinite(lo) and math.isfinite(hi) and 1.0 <= lo < hi):
            raise ConfigError(f"invalid config field 'speedup_range': need 1 <= lo < hi, got {lo:g},{hi:g}")
        if self.method not in METHODS:
            raise ConfigError(f"invalid config field 'method': {self.method!r} is not one of {', '.join(METHODS)}")
        if self.rule not in RULES:
            raise ConfigError(f"invalid config field 'rule': {self.rule!r} is not one of {', '.join(RULES)}")
        checks = {"n_random": (self.n_random, 0, 8), "full_weight": (self.full_weight, 0, 100),
                  "epochs": (self.epochs, 1e-6, 100), "lr": (self.lr, 1e-9, 1), "batch_size": (self.batch_size, 1, 4096)}
        for name, (value, low, high) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ConfigError(f"invalid config field '{name}': need a number in [{low:g}, {high:g}], got {value!r}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean 1 - cos over the batch; (B, D) each, normalised or not."""
    return (1 - torch.nn.functional.cosine_similarity(student, teacher, dim=-1)).mean()


class Budgets:
    """The configs one step trains: the smallest profile and `n_random` log-uniform ones (None: full length)."""

    def __init__(self, model, recipe: DistillRecipe, n0: int):
        from .encode import config_for

        self.model, self.recipe, self.n0, self.rng = model, recipe, n0, random.Random(recipe.seed)
        self.config_for = config_for
        self.smallest = config_for(model, recipe.method, recipe.speedup_range[1], n0=n0)

    def step(self) -> list:
        lo, hi = self.recipe.speedup_range
        drawn = [math.exp(self.rng.uniform(math.log(lo), math.log(hi))) for _ in range(self.recipe.n_random)]
        return [self.smallest] + [self.config_for(self.model, self.recipe.method, s, n0=self.n0) for s in drawn]


def batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's batches: one token length each, in a seeded random order."""
    from .encode import sorted_batches

    order = sorted_batches(lengths, batch_size)
    random.Random(seed * 1000 + epoch).shuffle(order)
    return order


def distill(model, texts: list[str], output, recipe: DistillRecipe, max_length: int | None = None,
            progress: bool = True, source: dict | None = None) -> dict:
    """Distil `model` (a local directory or installed backbone) on `texts` into OUTPUT: an encoder directory that
    `leanbert embed OUTPUT --speedup s` and sentence-transformers load like the original. OUTPUT is written whole
    or not at all: OUTPUT.partial holds the run until it is complete (an interrupted run leaves it, the next run
    starts it over); an existing OUTPUT is never overwritten. `source` (where the texts came from) is recorded."""
    from ..data.batching import check_max_length
    from ..engine import api
    from ..engine.models import resolve_model_dir
    from .encode import embed, load_encoder

    output = Path(output)
    if len(texts) < 2:
        raise ConfigError(f"need at least 2 texts to distil on, got {len(texts)}")
    staging = _start_output(output)
    torch.manual_seed(recipe.seed)
    net, tokenizer, default_length = load_encoder(model)
    api.remove(net)  # a source saved with a reduction config: distil (and save) the plain encoder
    length = check_max_length(tokenizer, net.config, max_length or default_length)
    teacher = torch.from_numpy(embed(net, tokenizer, texts, batch_size=64, max_length=length))  # (N, D) normalised
    log = _train(net, tokenizer, texts, teacher, recipe, length, progress)
    setattr(net.config, DISTILL_KEY, {**recipe.to_dict(), "texts": len(texts), "max_length": length,
                                      "source": source or {}})
    _copy_companions(Path(resolve_model_dir(model)), staging, length)
    net.save_pretrained(staging), tokenizer.save_pretrained(staging)
    summary = {"steps": len(log), "texts": len(texts), "max_length": length, "recipe": recipe.to_dict(),
               "source": source or {}, "first": log[0], "last": log[-1], "log": log}
    _finish_output(staging, output, summary)
    return {k: v for k, v in summary.items() if k != "log"}


def _start_output(output: Path) -> Path:
    """OUTPUT.partial, empty, made before any work (an unwritable place fails now, not after training)."""
    import shutil

    if output.exists():
        raise ConfigError(f"{output} exists; choose a new output directory (a finished run is never overwritten)")
    staging = output.with_name(output.name + ".partial")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    except OSError as e:
        raise ConfigError(f"cannot write the output directory {output}: {e.strerror or e}") from None
    return staging


def _finish_output(staging, output, summary: dict) -> None:
    from .. import atomic

    atomic.write_json(staging / "distill_log.json", summary)
    if output.exists():  # appeared while training: never replaced
        raise ConfigError(f"{output} appeared while training; the run is kept in {staging}")
    staging.rename(output)


def training_steps(recipe: DistillRecipe, per_epoch: int) -> int:
    """Optimizer steps for `recipe.epochs` epochs of `per_epoch` batches (rounded first: 1.1 x 100 is 110, not 111)."""
    return max(1, math.ceil(round(recipe.epochs * per_epoch, 6)))


def _train(net, tokenizer, texts, teacher: torch.Tensor, recipe: DistillRecipe, length: int, progress: bool) -> list:
    """The optimisation loop; one log entry per step."""
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from .encode import tokenize

    ids = tokenize(tokenizer, texts, length)[0]
    lengths = [len(x) for x in ids]
    budgets = Budgets(net, recipe, n0=length)
    total = training_steps(recipe, len(batches(lengths, recipe.batch_size, recipe.seed, 0)))
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe.lr)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    net.eval()  # dropout off (module docstring); gradients still flow
    log, bar = [], tqdm(total=total, desc="distil", disable=not progress)
    for epoch in range(math.ceil(recipe.epochs)):
        for batch in batches(lengths, recipe.batch_size, recipe.seed, epoch)[:total - len(log)]:
            inputs = tokenizer.pad({"input_ids": [ids[i] for i in batch]}, return_tensors="pt")
            full, *reduced = _step(net, inputs, teacher[batch], [None] + budgets.step(), recipe)
            optimizer.step(), schedule.step(), optimizer.zero_grad()
            log.append({"step": len(log) + 1, "full": None if full is None else round(full, 6),
                        "reduced": round(sum(reduced) / len(reduced), 6)})
            bar.update(1), bar.set_postfix(reduced=f"{log[-1]['reduced']:.4f}")
    bar.close()
    return log


def _step(net, inputs: dict, target: torch.Tensor, configs: list, recipe: DistillRecipe) -> list:
    """Backward through each sub-model in turn (one graph alive at a time); its losses, full length first (None
    when the full-length model is not trained)."""
    from ..engine import api
    from .pooling import mean_pool

    losses = []
    for config in configs:
        weight = recipe.full_weight if config is None else 1.0
        if weight == 0:
            losses.append(None)
            continue
        with api.applied(net, config):
            loss = cosine_loss(mean_pool(net, inputs, recipe.rule), target)
        (weight * loss).backward()
        losses.append(float(loss.detach()))
    return losses


ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def _copy_companions(source, staging, max_length: int) -> None:
    """The source's sentence-transformers files (modules.json, pooling/normalize folders, the max length: set to
    the length trained with) beside the new weights, so the output loads wherever the original did. Nothing
    else: a source's train log, stamps or search files describe other weights."""
    import json
    import re
    import shutil

    from .. import atomic

    for name in ST_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    for folder in source.iterdir():
        if folder.is_dir() and re.fullmatch(r"\d+_(Pooling|Normalize)", folder.name):
            shutil.copytree(folder, staging / folder.name)
    st_config = staging / "sentence_bert_config.json"
    settings = json.loads(st_config.read_text(encoding="utf-8")) if st_config.is_file() else {}
    atomic.write_json(st_config, {**settings, "max_seq_length": max_length})
