"""Learned neighbour degrees in two stages: soft bands with a density penalty, then the hard bands."""
from __future__ import annotations

from pathlib import Path

from ...training.stages import soft_then_hard
from ...training.train import FinetuneArgs

BAND_STAGE = "band"  # OUTPUT/band: the learned-degree model fine-tuned with its hard bands


def learned_band_pipeline(base: FinetuneArgs, band_lambda: float, lr_soft: float, init: float = 16.0,
                          from_layer: int = 0, temperature: tuple[float, float] = (4.0, 0.5), progress: bool = True) -> dict:
    """Learned neighbour degrees: the soft stage learns a width per layer and head (OUTPUT/band-soft), then the
    model is fine-tuned with the hard bands (OUTPUT/band). `base.model` is the fine-tuned dense checkpoint."""
    soft, hard, config, name = soft_then_hard(
        base, "band-soft", dict(band_lambda=band_lambda, band_init=init, band_from_layer=from_layer,
                                band_temperature=tuple(temperature), lr_soft=lr_soft),
        lambda log: (log["band_config"], BAND_STAGE), progress)
    return {"variant": "learned-band", "config": config, "soft_best": soft["best_score"], "hard_best": hard["best_score"],
            "checkpoint": str(Path(base.output_dir) / name / "best")}
