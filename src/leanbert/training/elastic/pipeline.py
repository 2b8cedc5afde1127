"""`leanbert elastic`: elastic fine-tuning (resumable), then the per-budget profile search on the held-out slice,
whose table is saved into the checkpoint (OUTPUT/best/config.json, key `leanbert_profiles`) and OUTPUT/search.json."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ... import atomic
from ...errors import ConfigError
from ..train import FinetuneArgs, finetune, search_slice_examples
from ...methods.acc import profiles
from .recipe import ElasticRecipe, full_config
from .search import search_profiles

SEARCH_FILE = "search.json"


def elastic_pipeline(base: FinetuneArgs, recipe: ElasticRecipe, budgets, population: int = 6, generations: int = 2,
                     try_coarse: bool = True, progress: bool = True, objective: str = "fidelity") -> dict:
    """Writes OUTPUT/best (the elastic checkpoint with its searched profiles) and OUTPUT/search.json.
    Each stage is skipped once done, so an interrupted run continues with the same command."""
    out = Path(base.output_dir)
    log = finetune(replace(base, model=base.model or recipe.teacher, elastic=recipe.to_dict()), progress)
    if (out / SEARCH_FILE).is_file():
        return json.loads((out / SEARCH_FILE).read_text())
    summary = search_checkpoint(out / "best", base, recipe, budgets, population, generations, try_coarse, progress,
                                objective)
    summary["train_best_score"] = log["best_score"]
    atomic.write_json(out / SEARCH_FILE, summary)
    return summary


def held_out_slice(base: FinetuneArgs, recipe: ElasticRecipe):
    """The examples the elastic stage did not train on (the same seeded split as finetune's)."""
    return search_slice_examples(replace(base, elastic=recipe.to_dict()))


def search_checkpoint(checkpoint: Path, base: FinetuneArgs, recipe: ElasticRecipe, budgets, population, generations,
                      try_coarse, progress, objective: str = "fidelity") -> dict:
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
                              base.seed, progress=lambda: bar.update(1), objective=objective)
    bar.close()
    _save_table(checkpoint, entries)
    described = {"fidelity": "fidelity (KL/MSE to full)", "score": "held-out task score (ties: fidelity)"}[objective]
    return {"checkpoint": str(checkpoint), "held_out_examples": len(examples), "objective": described,
            "recipe": recipe.to_dict(), "profiles": entries}


def research_pipeline(trained: Path, base: FinetuneArgs, budgets, population: int, generations: int,
                      try_coarse: bool, objective: str, progress: bool = True) -> dict:
    """Search new profiles for a trained elastic checkpoint (other budgets, objective or search size) without
    touching it: its weights are copied to OUTPUT/best, whose table the search writes, and OUTPUT/search.json.
    The recipe (speedup range, held-out slice, score) and the seed come from the checkpoint's train log."""
    import shutil

    from ..checkpoint import load_log

    out = Path(base.output_dir)
    if (out / SEARCH_FILE).is_file():
        return json.loads((out / SEARCH_FILE).read_text())
    if not trained.is_dir():
        raise ConfigError(f"checkpoint directory not found: {trained}")
    args = (load_log(trained.parent) or {}).get("args", {})
    if not args.get("elastic"):
        raise ConfigError(f"{trained} is not an elastic checkpoint (no elastic recipe in {trained.parent}/train_log.json)")
    if args["task"] != base.task:
        raise ConfigError(f"{trained} was trained on task {args['task']!r}, not {base.task!r}")
    recipe = ElasticRecipe(**args["elastic"])
    base = replace(base, seed=args["seed"], max_train_examples=args.get("max_train_examples"),
                   max_length=base.max_length or args.get("max_length"))
    if not (out / "best").is_dir():
        staging = out / "best.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(trained, staging)
        staging.rename(out / "best")
    # the copy's provenance: its train log (how the weights were trained, which backbone they descend from)
    atomic.write_json(out / "train_log.json", load_log(trained.parent))
    summary = search_checkpoint(out / "best", base, recipe, budgets, population, generations, try_coarse, progress,
                                objective)
    summary["searched_from"] = str(trained)
    atomic.write_json(out / SEARCH_FILE, summary)
    return summary


def _save_table(checkpoint: Path, entries: list[dict]) -> None:
    """The table goes into config.json (the weights stay untouched), atomically."""
    config = json.loads((checkpoint / "config.json").read_text())
    config[profiles.PROFILES_KEY] = sorted(entries, key=lambda e: e["speedup"])
    atomic.write_json(checkpoint / "config.json", config)
