"""Batch prediction over unlabelled files (`leanbert predict`): resumable, length-sorted, multi-process."""
from .run import PredictJob, run_predict

__all__ = ["PredictJob", "run_predict"]
