"""Fine-tuning with a fixed leanbert config applied (the hard stage after a search: PoWER-BERT, FCA, LTP, bands)."""
from __future__ import annotations

from ..data import syntax
from ..engine.api import apply
from ..engine.config import config_from_dict
from .hooks import TrainingStage


def saved_config(args, model, context: dict) -> TrainingStage | None:
    """Apply `args.apply_config`; a config that reads the parse gets it attached to every batch."""
    if not args.apply_config:
        return None
    config = config_from_dict(args.apply_config)
    apply(model, config)
    if config.needs_syntax:  # every batch carries its parse
        syntax.attach(context["train_ds"], context["tokenizer"], context["max_length"])
        syntax.attach(context["dev_ds"], context["tokenizer"], context["max_length"])
    return TrainingStage()
