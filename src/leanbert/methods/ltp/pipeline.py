"""LTP's two stages: the soft stage learns per-layer thresholds, then fine-tuning with hard pruning."""
from __future__ import annotations

from pathlib import Path

from ...training.stages import soft_then_hard
from ...training.train import FinetuneArgs


def ltp_pipeline(base: FinetuneArgs, ltp_lambda: float, lr_soft: float, temperature: float = 0.1,
                 progress: bool = True) -> dict:
    """LTP: the soft stage learns per-layer thresholds (OUTPUT/ltp-soft), then the model is fine-tuned with
    hard pruning at those thresholds (OUTPUT/ltp). `base.model` is the fine-tuned dense checkpoint."""
    soft, hard, config, name = soft_then_hard(
        base, "ltp-soft", dict(ltp_lambda=ltp_lambda, ltp_temperature=temperature, lr_soft=lr_soft),
        lambda log: (log["ltp_config"], "ltp"), progress)
    return {"variant": "ltp", "config": config, "soft_best": soft["best_score"], "hard_best": hard["best_score"],
            "checkpoint": str(Path(base.output_dir) / name / "best")}
