"""The arguments of one fine-tuning run; stored in its train log (train_log.json `args`)."""
from __future__ import annotations

from dataclasses import dataclass

from .. import checks
from ..data.datasets import UserFiles


@dataclass
class FinetuneArgs:
    task: str
    output_dir: str
    model: str | None = None
    data_dir: str | None = None
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int | None = None
    seed: int = 42
    max_train_examples: int | None = None
    eval_batch_size: int = 64
    save_every: int = 200  # optimizer steps between resumable training-state saves
    acc_speedups: tuple[float, float] | None = None
    acc_score: str = "acc"
    apply_config: dict | None = None  # a leanbert config (as a dict) trained with, e.g. PoWER-BERT's hard extraction
    retention_lambda: float | None = None  # PoWER-BERT retention-configuration search (soft extraction)
    ltp_lambda: float | None = None  # LTP soft stage: learn per-layer thresholds (methods/ltp/training.py)
    ltp_temperature: float = 0.1
    band_lambda: float | None = None  # learned neighbour degrees: soft stage (methods/sparse/learned_band.py)
    band_init: float = 16.0  # initial width of every head's band
    band_from_layer: int = 0  # patterned layers: this one upward
    band_temperature: tuple[float, float] = (4.0, 0.5)  # tau annealed from the first to the second
    lr_soft: float = 3e-3
    lat_max_drop: float | None = None  # LAT LengthDrop: drop ratio per layer drawn from U(0, p) (methods/lat/lengthdrop.py)
    lat_random: int = 2  # random sub-models per step beside the full and the smallest (sandwich rule)
    user: UserFiles | None = None  # the user's own CSV/TSV/JSONL files instead of a named task
    elastic: dict | None = None  # the elastic recipe (elastic.recipe.ElasticRecipe as a dict): sandwich + distillation
    search_slice: bool = False  # hold data/held_out.py's search slice out of training (LAT; the elastic recipe always does)


def check_args(args: FinetuneArgs) -> None:
    """Options that would train nothing, or train on NaN, refused before any work (every pipeline stage
    and study cell fine-tunes through here)."""
    checks.positive(args.epochs, "epochs")
    checks.positive(args.lr, "lr")
    checks.at_least(args.batch_size, 1, "batch-size")
    if args.max_train_examples is not None:
        checks.at_least(args.max_train_examples, 1, "max-train-examples")
