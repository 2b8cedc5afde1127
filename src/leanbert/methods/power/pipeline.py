"""The stages after dense fine-tuning for PoWER-BERT and FCA: retention-configuration search (soft
extraction), then re-training with hard extraction at the counts found -- dropping the rest
(PoWER-BERT, coarse=0) or merging it into coarse tokens (FCA). The search is shared: FCA variants and
PoWER-BERT trained into the same output folder reuse one search.

The counts are kept as absolute counts: a layer keeps at most r_l tokens, whatever the batch's padded
length. That is what PoWER-BERT does to the real tokens of an input padded to the task length (pads go
first), so a dynamically padded batch gets the same real tokens kept as in the papers' protocol. (Fractions
of the padded length would cut short inputs far harder than the method was searched and trained for.)
"""
from __future__ import annotations

from pathlib import Path

from ..fca.config import FCAConfig
from .config import PowerConfig
from ...training.recipes import GENERIC, RECIPES, recipe
from ...training.stages import soft_then_hard
from ...training.train import FinetuneArgs

# Per-task search defaults (lambda, lr_soft, batch size): views of the one table, recipes.RECIPES.
REDUCTION_DEFAULTS = {task: (r.retention_lambda, r.lr_soft, r.batch_size) for task, r in RECIPES.items()}
GENERIC_DEFAULTS = (GENERIC.retention_lambda, GENERIC.lr_soft, GENERIC.batch_size)


def reduction_defaults(task: str, retention_lambda=None, lr_soft=None, batch_size=None) -> tuple[float, float, int]:
    """The per-task defaults, each overridden by a value given."""
    r = recipe(task)
    lam, lr, bs = r.retention_lambda, r.lr_soft, r.batch_size
    return (lam if retention_lambda is None else retention_lambda, lr if lr_soft is None else lr_soft,
            bs if batch_size is None else batch_size)


def final_config(counts, coarse: int, merge: str, divide_by_count: bool):
    counts = tuple(int(c) for c in counts)
    if coarse == 0:
        return PowerConfig(keep_counts=counts), "power"
    config = FCAConfig(keep_counts=counts, coarse=coarse, merge=merge, divide_by_count=divide_by_count)
    return config, f"fca-k{coarse}-{merge}" + ("-div" if divide_by_count else "")


def reduction_pipeline(base: FinetuneArgs, retention_lambda: float, lr_soft: float, coarse: int = 0,
                       merge: str = "weighted", divide_by_count: bool = False, progress: bool = True) -> dict:
    """`base.model` is the fine-tuned dense checkpoint; writes OUTPUT/search and OUTPUT/<variant>."""
    def config_of(search):
        config, name = final_config(search["retention_keep_counts"], coarse, merge, divide_by_count)
        return config.to_dict(), name

    search, retrain, config, name = soft_then_hard(
        base, "search", dict(retention_lambda=retention_lambda, lr_soft=lr_soft), config_of, progress)
    return {"variant": name, "keep_counts": search["retention_keep_counts"], "config": config,
            "search_best": search["best_score"], "retrain_best": retrain["best_score"],
            "checkpoint": str(Path(base.output_dir) / name / "best")}
