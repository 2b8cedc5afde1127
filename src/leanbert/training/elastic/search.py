"""Per-budget profile search on the held-out slice of the training data (never dev or test).

For each budget (a target FLOPs reduction on the slice's real lengths) a small evolutionary search over
profile shapes (profiles.py): a population seeded with the geometric, front-, back-loaded and late-starting
shapes plus random ones; each generation keeps the better half and refills it by mutation and crossover. Every
candidate is projected onto the budget exactly, so candidates differ only in where they drop tokens. The
best shape is then also tried with its dropped tokens merged into one coarse token (FCA), projected onto the
same budget (the coarse token costs FLOPs, so it keeps a little fewer fine tokens); it is kept if better.

Objective (`objective`): "fidelity" (default) is agreement with the full-length model on the slice (mean KL
divergence of the class distributions; MSE for regression), lower is better. Why it is the default: on a few
hundred examples F1, MCC and Pearson move by a point between neighbouring candidates by chance, and the slice's
labels were seen by the dense teacher the student started from; agreement with the full model is smoother and
needs no labels. "score" ranks by the slice's task score (ties broken by fidelity), as LAT's search does: it
aims at what the rows report, at the price of that noise. The slice's task score of each chosen profile is
recorded beside it either way.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from ...data.batching import eval_loader
from ...measure.flops import model_dims
from ...measure.metrics import compute_metrics, main_score
from ...methods.acc import profiles
from .recipe import full_config

DEFAULT_BUDGETS = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
OBJECTIVES = ("fidelity", "score")


@torch.inference_mode()
def slice_outputs(model, tokenizer, ds, spec, config) -> tuple[torch.Tensor, np.ndarray]:
    """Logits (in the loader's fixed order) and labels, on batches of one length each (as rows are scored)."""
    model.eval()
    logits, labels = [], []
    for batch in eval_loader(ds, tokenizer, 64, spec.is_regression, equal_length=True):
        labels.append(batch.pop("labels").float().numpy())
        logits.append(model(**batch, leanbert_config=config).logits.float())
    return torch.cat(logits), np.concatenate(labels)


def fidelity(sub: torch.Tensor, full: torch.Tensor, regression: bool) -> float:
    if regression:
        return float(((sub - full) ** 2).mean())
    return float(torch.nn.functional.kl_div(sub.log_softmax(-1), full.log_softmax(-1), log_target=True,
                                            reduction="batchmean"))


def task_score(spec, logits: torch.Tensor, labels: np.ndarray) -> float:
    preds = logits.squeeze(-1) if spec.is_regression else logits.argmax(-1)
    return main_score(spec, compute_metrics(spec, preds.numpy(), labels))


def search_profiles(model, tokenizer, ds, spec, budgets, score: str = "acc", population: int = 6,
                    generations: int = 2, try_coarse: bool = True, seed: int = 0, progress=None,
                    objective: str = "fidelity") -> list[dict]:
    """One entry per reachable budget: {"speedup", "config", "fidelity", "held_out_score", "flops_ratio", ...}.
    `model` must be patched (leanbert.apply) so that it takes per-call configs."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown search objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    c = model.config
    dims = model_dims(c)
    histogram = profiles.length_histogram(ds.lengths())
    full, labels = slice_outputs(model, tokenizer, ds, spec, full_config(c.num_hidden_layers, score))
    rng = random.Random(seed)

    def evaluate(config):  # -> (the key the search minimises, logits)
        logits = slice_outputs(model, tokenizer, ds, spec, config)[0]
        if progress:
            progress()
        agreement = fidelity(logits, full, spec.is_regression)
        key = (agreement,) if objective == "fidelity" else (-task_score(spec, logits, labels), agreement)
        return key, logits

    entries = []
    for budget in budgets:
        best = _evolve(budget, histogram, dims, score, population, generations, rng, evaluate)
        if best is None:
            continue  # beyond what any shape reaches on these lengths
        key, shape, config, logits = best
        if try_coarse:
            merged = profiles.project(shape, budget, histogram, dims, coarse=1, score=score)
            if merged is not None:
                merged_key, merged_logits = evaluate(merged)
                if merged_key < key:
                    key, config, logits = merged_key, merged, merged_logits
        entries.append({"speedup": budget, "config": config.to_dict(), "fidelity": round(key[-1], 6),
                        "held_out_score": round(task_score(spec, logits, labels), 3),
                        "flops_ratio": round(profiles.flops_ratio(config, histogram, dims), 4),
                        "shape": [round(w, 4) for w in shape]})
    return entries


def _evolve(budget, histogram, dims, score, population, generations, rng, evaluate):
    """(objective, shape, config, logits) of the best shape found for one budget, or None if none reaches it."""
    layers = dims[2]
    scored = {}

    def visit(shape):
        config = profiles.project(shape, budget, histogram, dims, score=score)
        if config is None:
            return
        key = config.keep_fractions
        if key not in scored:  # shapes that round to the same profile are one candidate
            scored[key] = (*evaluate(config), shape, config)

    pop = profiles.seed_shapes(layers)
    pop += [profiles.random_shape(layers, rng) for _ in range(max(0, population - len(pop)))]
    for _ in range(generations + 1):
        for shape in pop:
            visit(shape)
        if not scored:
            return None
        ranked = sorted(scored.values(), key=lambda v: v[0])
        parents = [v[2] for v in ranked[:max(2, population // 2)]]
        pop = [profiles.mutate(rng.choice(parents), rng) if rng.random() < 0.6
               else profiles.crossover(rng.choice(parents), rng.choice(parents), rng) for _ in range(population)]
    objective, logits, shape, config = min(scored.values(), key=lambda v: v[0])
    return objective, shape, config, logits
