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

from dataclasses import replace
from pathlib import Path

from .config import FCAConfig, PowerConfig
from .train import FinetuneArgs, finetune


def final_config(counts, coarse: int, merge: str, divide_by_count: bool):
    counts = tuple(int(c) for c in counts)
    if coarse == 0:
        return PowerConfig(keep_counts=counts), "power"
    config = FCAConfig(keep_counts=counts, coarse=coarse, merge=merge, divide_by_count=divide_by_count)
    return config, f"fca-k{coarse}-{merge}" + ("-div" if divide_by_count else "")


def reduction_pipeline(base: FinetuneArgs, retention_lambda: float, lr_soft: float, coarse: int = 0,
                       merge: str = "weighted", divide_by_count: bool = False, progress: bool = True) -> dict:
    """`base.model` is the fine-tuned dense checkpoint; writes OUTPUT/search and OUTPUT/<variant>."""
    out = Path(base.output_dir)
    search = finetune(replace(base, output_dir=str(out / "search"), retention_lambda=retention_lambda, lr_soft=lr_soft),
                      progress)
    counts = search["retention_keep_counts"]
    config, name = final_config(counts, coarse, merge, divide_by_count)
    retrain = finetune(replace(base, output_dir=str(out / name), model=str(out / "search" / "best"),
                               apply_config=config.to_dict()), progress)
    return {"variant": name, "keep_counts": counts, "config": config.to_dict(), "search_best": search["best_score"],
            "retrain_best": retrain["best_score"], "checkpoint": str(out / name / "best")}


def ltp_pipeline(base: FinetuneArgs, ltp_lambda: float, lr_soft: float, temperature: float = 0.1,
                 progress: bool = True) -> dict:
    """LTP: the soft stage learns per-layer thresholds (OUTPUT/ltp-soft), then the model is fine-tuned with
    hard pruning at those thresholds (OUTPUT/ltp). `base.model` is the fine-tuned dense checkpoint."""
    out = Path(base.output_dir)
    soft = finetune(replace(base, output_dir=str(out / "ltp-soft"), ltp_lambda=ltp_lambda, ltp_temperature=temperature,
                            lr_soft=lr_soft), progress)
    config = soft["ltp_config"]
    hard = finetune(replace(base, output_dir=str(out / "ltp"), model=str(out / "ltp-soft" / "best"), apply_config=config),
                    progress)
    return {"variant": "ltp", "config": config, "soft_best": soft["best_score"], "hard_best": hard["best_score"],
            "checkpoint": str(out / "ltp" / "best")}


def learned_band_pipeline(base: FinetuneArgs, band_lambda: float, lr_soft: float, init: float = 16.0,
                          from_layer: int = 0, temperature: tuple[float, float] = (4.0, 0.5), progress: bool = True) -> dict:
    """Learned neighbour degrees: the soft stage learns a width per layer and head (OUTPUT/band-soft), then the
    model is fine-tuned with the hard bands (OUTPUT/band). `base.model` is the fine-tuned dense checkpoint."""
    out = Path(base.output_dir)
    soft = finetune(replace(base, output_dir=str(out / "band-soft"), band_lambda=band_lambda, band_init=init,
                            band_from_layer=from_layer, band_temperature=tuple(temperature), lr_soft=lr_soft), progress)
    config = soft["band_config"]
    hard = finetune(replace(base, output_dir=str(out / "band"), model=str(out / "band-soft" / "best"),
                            apply_config=config), progress)
    return {"variant": "learned-band", "config": config, "soft_best": soft["best_score"], "hard_best": hard["best_score"],
            "checkpoint": str(out / "band" / "best")}
