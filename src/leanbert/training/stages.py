"""The two stages every learned method shares: a soft stage that learns what to keep, then fine-tuning with the
hard config it yields (PoWER-BERT/FCA's search, LTP's thresholds, learned bands)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .train import FinetuneArgs, finetune


def soft_then_hard(base: FinetuneArgs, soft_name: str, soft_changes: dict, config_of, progress: bool):
    """The two stages every learned reduction shares: a soft stage in OUTPUT/<soft_name> (skipped once done, so
    variants reuse it), then fine-tuning with the hard config it yields, starting from its best checkpoint.
    `config_of(soft_log) -> (config dict, hard stage name)`. Returns (soft log, hard log, config, name)."""
    out = Path(base.output_dir)
    soft = finetune(replace(base, output_dir=str(out / soft_name), **soft_changes), progress)
    config, name = config_of(soft)
    hard = finetune(replace(base, output_dir=str(out / name), model=str(out / soft_name / "best"), apply_config=config),
                    progress)
    return soft, hard, config, name
