"""PoWER-BERT's stages after fine-tuning: retention-configuration search, then re-training with hard
extraction at the counts found. Counts are stored as fractions of the task length, so dynamically
padded (shorter) batches shrink in proportion; in the padded protocol they are exactly the counts."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import PowerConfig
from .train import FinetuneArgs, finetune


def counts_to_fractions(counts, max_length: int) -> tuple[float, ...]:
    return tuple(min(1.0, round(c / max_length, 4)) for c in counts)


def power_pipeline(base: FinetuneArgs, retention_lambda: float, lr_soft: float, progress: bool = True) -> dict:
    """`base.model` is the fine-tuned dense checkpoint; writes OUTPUT/search and OUTPUT/retrain."""
    from .data import resolve_task

    out = Path(base.output_dir)
    max_length = base.max_length or resolve_task(base.task).max_length
    search = finetune(replace(base, output_dir=str(out / "search"), retention_lambda=retention_lambda, lr_soft=lr_soft),
                      progress)
    counts = search["retention_keep_counts"]
    config = PowerConfig(keep_fractions=counts_to_fractions(counts, max_length))
    retrain = finetune(replace(base, output_dir=str(out / "retrain"), model=str(out / "search" / "best"),
                               apply_config=config.to_dict()), progress)
    return {"keep_counts": counts, "config": config.to_dict(), "search_best": search["best_score"],
            "retrain_best": retrain["best_score"], "checkpoint": str(out / "retrain" / "best")}
