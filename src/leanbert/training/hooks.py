"""What a method's training stage plugs into the generic loop (training/train.py). A stage is built from the
fine-tuning arguments by `stages_for`; every hook has a do-nothing default, so a stage overrides only its own."""
from __future__ import annotations


class TrainingStage:
    soft = None  # an nn.Module of soft-stage parameters (its own optimizer group at lr_soft, no weight decay)
    soft_lambda = 0.0  # the weight of `soft.penalty()` in the loss

    def batch_kwargs(self) -> dict:
        """Extra keyword arguments of the model call for the next batch (a per-call config)."""
        return {}

    def loss(self, model, batch):
        """The batch's training loss, or None for the model's own."""
        return None

    def before_step(self, progress: float) -> None:
        """Called before each batch with the fraction of training done (annealed soft stages)."""

    def after_step(self) -> None:
        """Called after each optimizer step (soft parameters clipped to their range)."""

    def log_epoch(self, model, log: dict, entry: dict) -> None:
        """Record what the stage learned so far in the train log (`log`) and this epoch's entry."""


class SoftStage(TrainingStage):
    """A stage whose soft parameters (an nn.Module with `penalty()`, optionally `set_progress` and `clip_`) are
    learned beside the model's."""

    def __init__(self, soft, soft_lambda: float):
        self.soft, self.soft_lambda = soft, soft_lambda

    def before_step(self, progress: float) -> None:
        if hasattr(self.soft, "set_progress"):
            self.soft.set_progress(progress)

    def after_step(self) -> None:
        if hasattr(self.soft, "clip_"):
            self.soft.clip_()


def stages_for(args, model, context: dict) -> list[TrainingStage]:
    """The stages the arguments ask for, built in the order they patch the model (a later one's config wins).
    `context`: max_length, tokenizer, train_ds, dev_ds, spec, out."""
    from ..methods.acc.tuning import offline_tuning
    from ..methods.lat.lengthdrop import length_drop
    from ..methods.ltp.training import soft_ltp
    from ..methods.power.retention import retention_search
    from ..methods.sparse.learned_band import learned_band
    from .elastic.stage import elastic_stage
    from .saved_config import saved_config

    builders = (offline_tuning, length_drop, saved_config, retention_search, soft_ltp, learned_band, elastic_stage)
    return [stage for build in builders if (stage := build(args, model, context)) is not None]
