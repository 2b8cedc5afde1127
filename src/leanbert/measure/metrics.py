"""GLUE metrics with scikit-learn and scipy. `score` is the task's main metric in percent."""
from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from ..data.tasks import TaskSpec


def compute_metrics(spec: TaskSpec, predictions, labels) -> dict[str, float]:
    """All metrics of the task, as fractions (accuracy 0.9, not 90)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if len(predictions) != len(labels) or len(labels) == 0:
        raise ValueError(f"need equally many predictions and labels, got {len(predictions)} and {len(labels)}")
    if spec.is_regression:
        if np.std(predictions) == 0 or np.std(labels) == 0:  # correlation undefined: report 0, not NaN
            return {"pearson": 0.0, "spearman": 0.0}
        return {"pearson": float(pearsonr(predictions, labels)[0]), "spearman": float(spearmanr(predictions, labels)[0])}
    out = {"accuracy": float(accuracy_score(labels, predictions))}
    if spec.metric == "mcc":
        out["mcc"] = float(matthews_corrcoef(labels, predictions))
    if spec.metric == "f1":
        out["f1"] = float(f1_score(labels, predictions))
    return out


def main_score(spec: TaskSpec, metrics: dict[str, float]) -> float:
    return round(100.0 * metrics[spec.metric], 3)
