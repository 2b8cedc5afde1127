"""The model side of `leanbert predict`: a checkpoint at one speedup over a list of texts, in their order."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..measure.evaluation import check_finite
from ..deploy.serve import Classifier

DEFAULT_LENGTH = 128


def trained_length(checkpoint: str | Path) -> int | None:
    """The length a checkpoint was fine-tuned at (train_log.json, which `leanbert finetune` writes beside
    best/), else None. Predicting at a shorter length silently truncates what the model was trained to read."""
    log = Path(checkpoint).parent / "train_log.json"
    try:
        args = json.loads(log.read_text(encoding="utf-8")).get("args") or {}
    except (OSError, ValueError):
        return None
    if args.get("max_length"):
        return int(args["max_length"])
    if (args.get("user") or {}).get("max_length"):
        return int(args["user"]["max_length"])
    from ..data.datasets import resolve_task
    from ..errors import DataError

    try:
        return resolve_task(str(args.get("task"))).max_length
    except DataError:
        return None


class Predictor:
    """Loads once, checks the speedup once, then predicts lists of texts in length-sorted batches."""

    def __init__(self, checkpoint, max_length: int | None = None, speedup: float | None = None, device="cpu"):
        length = max_length or trained_length(checkpoint) or DEFAULT_LENGTH
        self.classifier = c = Classifier(checkpoint, length)  # loading, length and speedup checks shared with serve
        self.config = c.config_for(speedup)  # an impossible speedup fails here, before any row
        self.kwargs = {"leanbert_config": self.config} if self.config is not None else {}
        self.device = torch.device(device)
        c.model.to(self.device)
        self.labels, self.regression, self.max_length = c.labels, c.regression, c.max_length

    def lengths(self, texts: list[str], pairs: list[str] | None) -> list[int]:
        return [len(ids) for ids in self.classifier.tokenizer(texts, pairs, truncation=False)["input_ids"]]

    @torch.inference_mode()
    def predict(self, texts: list[str], pairs: list[str] | None, batch_size: int) -> list[dict]:
        """One result per text, in the order given. Batches hold texts of similar length (less padding, and
        a reduction's keep counts, fractions of the padded length, fit every row of the batch)."""
        tok = self.classifier.tokenizer
        full = self.lengths(texts, pairs)
        enc = tok(texts, pairs, truncation=True, max_length=self.max_length)
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))  # stable: ties keep input order
        out: list[dict] = [{} for _ in texts]
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = tok.pad([{k: enc[k][i] for k in keys} for i in rows], return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            logits = check_finite(self.classifier.model(**batch, **self.kwargs).logits).float().cpu()  # (B, C)
            for i, result in zip(rows, self._results(logits)):
                out[i] = {**result, "truncated": full[i] > self.max_length}
        return out

    def _results(self, logits: torch.Tensor) -> list[dict]:
        if self.regression:
            return [{"value": v} for v in logits[:, 0].tolist()]
        probs = logits.softmax(dim=-1)  # (B, C)
        return [{"label": self.labels[max(range(len(row)), key=row.__getitem__)],
                 "probabilities": {name: round(p, 6) for name, p in zip(self.labels, row)}} for row in probs.tolist()]
