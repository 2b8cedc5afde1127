"""The stages after dense fine-tuning for PoWER-BERT and FCA: retention-configuration search (soft
extraction), then re-training with hard extraction at the counts found -- dropping the rest
(PoWER-BERT, coarse=0) or merging it into coarse tokens (FCA). The search is shared: FCA variants and
PoWER-BERT trained into the same output folder reuse one search.

Counts are stored as fractions of the task length, so dynamically padded (shorter) batches shrink in
proportion; in the padded protocol they are exactly the counts found.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import FCAConfig, PowerConfig
from .train import FinetuneArgs, finetune


def counts_to_fractions(counts, max_length: int) -> tuple[float, ...]:
    return tuple(min(1.0, round(c / max_length, 4)) for c in counts)


def final_config(counts, max_length: int, coarse: int, merge: str, divide_by_count: bool):
    fractions = counts_to_fractions(counts, max_length)
    if coarse == 0:
        return PowerConfig(keep_fractions=fractions), "power"
    config = FCAConfig(keep_fractions=fractions, coarse=coarse, merge=merge, divide_by_count=divide_by_count)
    return config, f"fca-k{coarse}-{merge}" + ("-div" if divide_by_count else "")


def reduction_pipeline(base: FinetuneArgs, retention_lambda: float, lr_soft: float, coarse: int = 0,
                       merge: str = "weighted", divide_by_count: bool = False, progress: bool = True) -> dict:
    """`base.model` is the fine-tuned dense checkpoint; writes OUTPUT/search and OUTPUT/<variant>."""
    from .data import resolve_task

    out = Path(base.output_dir)
    max_length = base.max_length or resolve_task(base.task).max_length
    search = finetune(replace(base, output_dir=str(out / "search"), retention_lambda=retention_lambda, lr_soft=lr_soft),
                      progress)
    counts = search["retention_keep_counts"]
    config, name = final_config(counts, max_length, coarse, merge, divide_by_count)
    retrain = finetune(replace(base, output_dir=str(out / name), model=str(out / "search" / "best"),
                               apply_config=config.to_dict()), progress)
    return {"variant": name, "keep_counts": counts, "config": config.to_dict(), "search_best": search["best_score"],
            "retrain_best": retrain["best_score"], "checkpoint": str(out / name / "best")}
