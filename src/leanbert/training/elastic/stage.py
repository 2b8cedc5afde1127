"""The elastic recipe as a training stage: teacher outputs cached into the training features, the model patched
to take per-call profiles, every batch's loss the recipe's (sandwich rule and distillation)."""
from __future__ import annotations

from ...engine.api import apply
from ..hooks import TrainingStage
from .recipe import ElasticLoss, ElasticRecipe, cache_teacher


class ElasticStage(TrainingStage):
    def __init__(self, loss: ElasticLoss):
        self.elastic_loss = loss

    def loss(self, model, batch):
        return self.elastic_loss(model, batch)


def elastic_stage(args, model, context: dict) -> TrainingStage | None:
    if not args.elastic:
        return None
    recipe, out, spec = ElasticRecipe(**args.elastic), context["out"], context["spec"]
    out.mkdir(parents=True, exist_ok=True)
    cache_teacher(context["train_ds"], context["tokenizer"], recipe, spec.is_regression, out / "teacher_cache.pt")
    loss = ElasticLoss(recipe, model.config, context["train_ds"].lengths(), spec.is_regression, args.seed)
    apply(model, loss.full)  # keeps every token; saved with the model, it marks the checkpoint as elastic-tuned
    return ElasticStage(loss)
