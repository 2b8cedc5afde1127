"""Length-Adaptive Transformer (Kim & Cho, ACL 2021), a peer, reconstructed on our engine.

Training (LengthDrop with the sandwich rule and in-place distillation): every step runs the full model
(task loss), the smallest sub-model and `n_random` random sub-models; the sub-models learn the full model's
predictions (KL divergence to its soft labels; MSE to its output for regression). A sub-model is a length
configuration: layer l keeps ceil((1 - u_l) * n_{l-1}) tokens, u_l ~ U(0, p) (the smallest: u_l = p), the
tokens dropped by PoWER-BERT's attention significance, as LAT does. Configs are keep fractions of the input
length, so one config serves every batch length.

Search (evolutionary, after training): a population of length configs evolves by mutation (one layer's
drop ratio redrawn, the profile kept non-increasing) and crossover (per-layer choice between two parents);
each candidate's fitness is its score on the search examples, its cost the analytic FLOPs at the task
length. The Pareto front over (FLOPs, score) is kept; for each budget (a target FLOPs reduction) the best
config within the budget is the answer. Pure functions here except `search_front`, which evaluates.
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from ..power.config import PowerConfig
from ...errors import ConfigError
from ...engine.api import apply
from ...training.hooks import TrainingStage


def drop_fractions(drops: list[float]) -> tuple[float, ...]:
    """Per-layer drop ratios -> cumulative keep fractions of the input length (non-increasing)."""
    keep, out = 1.0, []
    for u in drops:
        keep *= 1.0 - u
        out.append(keep)
    return tuple(out)


class LengthDropSampler:
    def __init__(self, num_layers: int, max_drop: float = 0.2, seed: int = 0):
        if not 0 < max_drop < 1:
            raise ConfigError(f"invalid config field 'max_drop': {max_drop} must be in (0, 1)")
        self.num_layers, self.max_drop, self.rng = num_layers, max_drop, random.Random(seed)

    def smallest(self) -> PowerConfig:
        return PowerConfig(keep_fractions=drop_fractions([self.max_drop] * self.num_layers))

    def sample(self) -> PowerConfig:
        return PowerConfig(keep_fractions=drop_fractions([self.rng.uniform(0, self.max_drop) for _ in range(self.num_layers)]))


def full_config(num_layers: int) -> PowerConfig:
    """Keeps every token: the patched model computes exactly the dense model (and takes per-call configs)."""
    return PowerConfig(keep_fractions=(1.0,) * num_layers)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, regression: bool) -> torch.Tensor:
    if regression:
        return F.mse_loss(student.squeeze(-1), teacher.squeeze(-1))
    return F.kl_div(student.log_softmax(dim=-1), teacher.softmax(dim=-1), reduction="batchmean")


def sandwich_loss(model, batch: dict, sampler: LengthDropSampler, n_random: int, regression: bool) -> torch.Tensor:
    """Task loss of the full model + distillation losses of the smallest and n_random random sub-models."""
    full = model(**batch)
    teacher = full.logits.detach()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    total = full.loss
    for config in [sampler.smallest()] + [sampler.sample() for _ in range(n_random)]:
        total = total + distillation_loss(model(**inputs, leanbert_config=config).logits, teacher, regression)
    return total


# --- evolutionary search -------------------------------------------------------------------------------------

def mutate(drops: list[float], max_drop: float, rng: random.Random, prob: float = 0.3) -> list[float]:
    """Each layer's drop ratio redrawn with probability `prob`."""
    return [rng.uniform(0, max_drop) if rng.random() < prob else u for u in drops]


def crossover(a: list[float], b: list[float], rng: random.Random) -> list[float]:
    return [x if rng.random() < 0.5 else y for x, y in zip(a, b)]


def pareto_front(points: list[tuple[float, float, object]]) -> list[tuple[float, float, object]]:
    """(cost, score, payload) -> the points no other point beats on both (lower cost, higher score)."""
    front, best = [], -math.inf
    for cost, score, payload in sorted(points, key=lambda p: (p[0], -p[1])):
        if score > best:
            front.append((cost, score, payload))
            best = score
    return front


def best_within(front, budget_cost: float):
    """The highest-scoring front point whose cost is within the budget (None if none is)."""
    inside = [p for p in front if p[0] <= budget_cost + 1e-12]
    return max(inside, key=lambda p: p[1]) if inside else None


def search_front(evaluate, cost, num_layers: int, max_drop: float, population: int = 16, generations: int = 8,
                 seed: int = 0, progress=None) -> list[tuple[float, float, tuple[float, ...]]]:
    """Evolve drop-ratio vectors. `evaluate(fractions) -> score`, `cost(fractions) -> FLOPs`. Returns the Pareto
    front [(cost, score, fractions)] over every candidate evaluated."""
    rng = random.Random(seed)
    scored: dict[tuple[float, ...], tuple[float, float]] = {}

    def score_of(drops):
        fractions = tuple(round(f, 4) for f in drop_fractions(drops))
        if fractions not in scored:
            scored[fractions] = (cost(fractions), evaluate(fractions))
            if progress:
                progress(len(scored))
        return scored[fractions]

    pop = [[0.0] * num_layers, [max_drop] * num_layers] + [
        [rng.uniform(0, max_drop) for _ in range(num_layers)] for _ in range(population - 2)]
    for _ in range(generations):
        for drops in pop:
            score_of(drops)
        front = pareto_front([(c, s, f) for f, (c, s) in scored.items()])
        parents = [_drops_of(f) for _, _, f in front] or pop
        children = []
        while len(children) < population:
            a, b = rng.choice(parents), rng.choice(parents)
            child = mutate(crossover(a, b, rng), max_drop, rng) if rng.random() < 0.5 else mutate(a, max_drop, rng)
            children.append(child)
        pop = children
    for drops in pop:
        score_of(drops)
    return pareto_front([(c, s, f) for f, (c, s) in scored.items()])


def _drops_of(fractions: tuple[float, ...]) -> list[float]:
    out, prev = [], 1.0
    for f in fractions:
        out.append(0.0 if prev <= 0 else max(0.0, 1.0 - f / prev))
        prev = f
    return out


class LengthDropStage(TrainingStage):
    def __init__(self, sampler: LengthDropSampler, n_random: int, regression: bool):
        self.sampler, self.n_random, self.regression = sampler, n_random, regression

    def loss(self, model, batch):
        return sandwich_loss(model, batch, self.sampler, self.n_random, self.regression)


def length_drop(args, model, context: dict) -> TrainingStage | None:
    """LengthDrop training (`args.lat_max_drop`): patched with a keep-everything config, so sub-models come per call."""
    if args.lat_max_drop is None:
        return None
    layers = model.config.num_hidden_layers
    apply(model, full_config(layers))
    return LengthDropStage(LengthDropSampler(layers, args.lat_max_drop, args.seed), args.lat_random,
                           context["spec"].is_regression)
