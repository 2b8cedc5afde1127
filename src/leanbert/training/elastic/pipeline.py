"""`leanbert elastic`: elastic fine-tuning (resumable), then the per-budget profile search on the held-out slice,
whose table is saved into the checkpoint (OUTPUT/best/config.json, key `leanbert_profiles`) and OUTPUT/search.json."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ... import atomic
from ..train import FinetuneArgs, finetune, training_examples
from ...methods.acc import profiles
from .recipe import ElasticRecipe, full_config, split_held_out
from .search import search_profiles

SEARCH_FILE = "search.json"


def elastic_pipeline(base: FinetuneArgs, recipe: ElasticRecipe, budgets, population: int = 6, generations: int = 2,
                     try_coarse: bool = True, progress: bool = True) -> dict:
    """Writes OUTPUT/best (the elastic checkpoint with its searched profiles) and OUTPUT/search.json.
    Each stage is skipped once done, so an interrupted run continues with the same command."""
    out = Path(base.output_dir)
    log = finetune(replace(base, model=base.model or recipe.teacher, elastic=recipe.to_dict()), progress)
    if (out / SEARCH_FILE).is_file():
        return json.loads((out / SEARCH_FILE).read_text())
    summary = search_checkpoint(out / "best", base, recipe, budgets, population, generations, try_coarse, progress)
    summary["train_best_score"] = log["best_score"]
    atomic.write_json(out / SEARCH_FILE, summary)
    return summary


def held_out_slice(base: FinetuneArgs, recipe: ElasticRecipe):
    """The examples the elastic stage did not train on (the same seeded split as finetune's)."""
    from ...data.datasets import load_task

    data = load_task(base.task, base.data_dir, splits=("train",), user=base.user)
    return data.spec, split_held_out(training_examples(base, data), recipe, base.seed)[1]


def search_checkpoint(checkpoint: Path, base: FinetuneArgs, recipe: ElasticRecipe, budgets, population, generations,
                      try_coarse, progress) -> dict:
    from tqdm.auto import tqdm

    from ...engine.api import apply
    from ...data.batching import encode
    from ...engine.models import load_classifier, load_tokenizer

    spec, examples = held_out_slice(base, recipe)
    tokenizer, model = load_tokenizer(checkpoint), load_classifier(checkpoint)
    ds, _ = encode(tokenizer, examples, base.max_length or spec.max_length)
    apply(model, full_config(model.config.num_hidden_layers, recipe.score))
    lo, hi = recipe.speedup_range
    budgets = [b for b in budgets if b <= hi + 1e-9]
    bar = tqdm(desc="profile search", total=len(budgets) * population * (generations + 1), disable=not progress)
    entries = search_profiles(model, tokenizer, ds, spec, budgets, recipe.score, population, generations, try_coarse,
                              base.seed, progress=lambda: bar.update(1))
    bar.close()
    _save_table(checkpoint, entries)
    return {"checkpoint": str(checkpoint), "held_out_examples": len(examples), "objective": "fidelity (KL/MSE to full)",
            "recipe": recipe.to_dict(), "profiles": entries}


def _save_table(checkpoint: Path, entries: list[dict]) -> None:
    """The table goes into config.json (the weights stay untouched), atomically."""
    config = json.loads((checkpoint / "config.json").read_text())
    config[profiles.PROFILES_KEY] = sorted(entries, key=lambda e: e["speedup"])
    atomic.write_json(checkpoint / "config.json", config)
