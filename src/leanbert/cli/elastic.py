"""The `leanbert elastic` command: parse, call the pipeline, print one JSON line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import LeanbertError


def _output_dir(param: typer.CallbackParam, value: Optional[Path]):
    # annotated: typer passes the parameter by its type (an unannotated callback got the Context)
    from .options import check_output_dir as check

    return check(param, value)


SEARCH_OPTIONS = {
    "budgets": typer.Option("1.25,1.5,1.75,2,2.5,3,3.5,4,5,6", help="speedups searched (up to the range's hi)"),
    "population": typer.Option(6, help="profile shapes per generation of the search"),
    "generations": typer.Option(2, help="generations of the search after the first"),
    "coarse": typer.Option(True, help="the search may merge dropped tokens into one coarse token (FCA)"),
    "search_objective": typer.Option("fidelity", help="fidelity: agreement with the full-length model on the held-out "
                                     "slice; score: the slice's task score, ties broken by fidelity (as LAT picks)"),
}


def elastic(
    task: str = typer.Option(..., help="a named task (the held-out slice comes from its training split)"),
    dense: str = typer.Option(..., help="the fine-tuned dense checkpoint: the teacher, and the student's start"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="OUTPUT/best (with its profiles), OUTPUT/search.json",
                                    callback=_output_dir),
    data_dir: Optional[str] = typer.Option(None, help="glue_data directory (or LEANBERT_GLUE_DIR)"),
    epochs: float = 3.0, batch_size: int = 32, lr: float = 5e-5, seed: int = 42,
    max_length: Optional[int] = None,
    max_train_examples: Optional[int] = typer.Option(None, help="subsample the training set (seeded)"),
    speedup_range: str = typer.Option("1.25,3", help="lo,hi: budgets sampled in training and searched after "
                                      "(3, not 5: the ablation found a narrower range better at every budget)"),
    sandwich: bool = typer.Option(True, help="full + smallest + random profiles per step (off: one random profile)"),
    n_random: int = typer.Option(2, help="random profiles per step beside the smallest"),
    inplace: Optional[bool] = typer.Option(None, "--inplace/--no-inplace",
                                           help="sub-models learn the full model's logits (off: the labels); "
                                                "default: on for classification, off for regression"),
    teacher_weight: float = typer.Option(1.0, help="weight of distillation from the dense teacher's logits"),
    rank_weight: float = typer.Option(1.0, help="weight of the ranking distillation of every layer's scores"),
    budgets: str = SEARCH_OPTIONS["budgets"], population: int = SEARCH_OPTIONS["population"],
    generations: int = SEARCH_OPTIONS["generations"], coarse: bool = SEARCH_OPTIONS["coarse"],
    search_objective: str = SEARCH_OPTIONS["search_objective"],
    threads: Optional[int] = typer.Option(None, help="torch threads"),
):
    """Elastic fine-tuning (sandwich rule, in-place, teacher and ranking distillation) of one checkpoint that runs
    at any budget, then a per-budget profile search on a held-out slice of the training data."""
    from .. import checks
    from .options import set_threads as _set_threads
    from ..data.datasets import resolve_task
    from ..training.train import FinetuneArgs
    from ..training.elastic.pipeline import elastic_pipeline
    from ..training.elastic.recipe import ElasticRecipe

    _set_threads(threads)
    speeds, targets = checks.numbers(speedup_range, "speedup-range"), _search_targets(budgets, population, generations,
                                                                                      search_objective)
    if len(speeds) != 2:
        raise LeanbertError("--speedup-range needs two numbers: lo,hi")
    if inplace is None:  # the ablation: +0.8 F1 on MRPC, -5.7 Pearson on STS-B (docs/ablation.md)
        inplace = not resolve_task(task).is_regression
    recipe = ElasticRecipe(teacher=dense, speedup_range=tuple(speeds), sandwich=sandwich, n_random=n_random,
                           inplace_distillation=inplace, teacher_weight=teacher_weight, rank_weight=rank_weight)
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    summary = elastic_pipeline(base, recipe, targets, population, generations, coarse, objective=search_objective)
    _echo(summary)


def elastic_search(
    checkpoint: Path = typer.Argument(..., help="a trained elastic checkpoint (RUN/best; RUN/train_log.json holds "
                                      "its recipe)"),
    task: str = typer.Option(..., help="the task it was trained on (the held-out slice comes from its training split)"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="OUTPUT/best (a copy with the new profiles), "
                                    "OUTPUT/search.json", callback=_output_dir),
    data_dir: Optional[str] = typer.Option(None, help="glue_data directory (or LEANBERT_GLUE_DIR)"),
    budgets: str = SEARCH_OPTIONS["budgets"], population: int = SEARCH_OPTIONS["population"],
    generations: int = SEARCH_OPTIONS["generations"], coarse: bool = SEARCH_OPTIONS["coarse"],
    search_objective: str = SEARCH_OPTIONS["search_objective"],
    threads: Optional[int] = typer.Option(None, help="torch threads"),
):
    """Search new per-budget profiles for a trained elastic checkpoint (another objective, budgets or search size)
    on the same held-out slice of the training data; the checkpoint itself is left as it is."""
    from .options import set_threads as _set_threads
    from ..training.elastic.pipeline import research_pipeline
    from ..training.train import FinetuneArgs

    _set_threads(threads)
    targets = _search_targets(budgets, population, generations, search_objective)
    base = FinetuneArgs(task=task, output_dir=str(output_dir), data_dir=data_dir)
    _echo(research_pipeline(checkpoint, base, targets, population, generations, coarse, search_objective))


def _search_targets(budgets: str, population: int, generations: int, objective: str) -> list[float]:
    from .. import checks
    from ..training.elastic.search import OBJECTIVES

    targets = checks.numbers(budgets, "budgets", unique=True)
    if not targets or min(targets) < 1:
        raise LeanbertError("--budgets need one or more numbers >= 1")
    if objective not in OBJECTIVES:
        raise LeanbertError(f"--search-objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    checks.at_least(population, 2, "population")
    checks.at_least(generations, 0, "generations")
    return sorted(set(targets))


def _echo(summary: dict) -> None:
    typer.echo(json.dumps({"checkpoint": summary["checkpoint"], "profiles": [
        {k: e[k] for k in ("speedup", "fidelity", "held_out_score", "flops_ratio")} for e in summary["profiles"]]}))
