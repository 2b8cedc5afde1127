"""Running a model over a split and scoring it."""
from __future__ import annotations

import numpy as np
import torch

from .. import progress
from ..engine.api import current_config
from ..data.batching import EncodedDataset, eval_loader
from ..errors import ConfigError, LeanbertError
from .metrics import compute_metrics, main_score
from ..data.tasks import TaskSpec


@torch.inference_mode()
def predict(model, tokenizer, ds: EncodedDataset, spec: TaskSpec, batch_size: int = 64, leanbert_config=None,
            accelerator=None, equal_length: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and labels in the order of the length-sorted loader (`equal_length`: batches.sorted_batches)."""
    if leanbert_config is not None and current_config(model) is None:
        # an unpatched model would silently ignore the per-call config and run dense
        raise ConfigError("a per-call leanbert_config needs a model patched with leanbert.apply first")
    model.eval()
    loader = eval_loader(ds, tokenizer, batch_size, spec.is_regression, equal_length=equal_length)
    if accelerator is not None and accelerator.num_processes > 1:
        loader = accelerator.prepare_data_loader(loader)  # shards, and tracks its own remainder
    else:
        # gather_for_metrics would truncate every batch to the *training* loader's remainder when called
        # right after the training loader ends: in one process there is nothing to gather anyway
        accelerator = None
    extra = {} if leanbert_config is None else {"leanbert_config": leanbert_config}
    preds, labels = [], []
    for batch in progress.bar(loader, desc="scoring", unit="batch", leave=False, disable=accelerator is not None
                              and not accelerator.is_main_process):
        y = batch.pop("labels", None)
        logits = check_finite(model(**batch, **extra).logits)  # (B, C)
        p = logits.squeeze(-1) if spec.is_regression else logits.argmax(dim=-1)
        if accelerator is not None:
            p, y = accelerator.gather_for_metrics((p, y))
        preds.append(p.float().cpu().numpy())
        labels.append(y.float().cpu().numpy() if y is not None else np.full(len(p), np.nan))
    return np.concatenate(preds), np.concatenate(labels)


def check_finite(logits: torch.Tensor) -> torch.Tensor:
    """`logits` unchanged if all are finite. NaN or inf (broken weights, an overflowing dtype) would become
    a label by argmax or a null probability: an error instead, wherever predictions are made."""
    if not torch.isfinite(logits).all():
        bad = int((~torch.isfinite(logits)).any(dim=-1).sum())
        raise LeanbertError(f"the model produced non-finite logits (NaN or inf) for {bad} of {logits.shape[0]} "
                            "inputs: its weights or dtype are broken")
    return logits


def evaluate(model, tokenizer, ds: EncodedDataset, spec: TaskSpec, batch_size: int = 64, leanbert_config=None,
             accelerator=None, equal_length: bool = False) -> dict:
    preds, labels = predict(model, tokenizer, ds, spec, batch_size, leanbert_config, accelerator, equal_length)
    metrics = compute_metrics(spec, preds, labels)
    return {"metrics": metrics, "score": main_score(spec, metrics), "metric": spec.metric}
