"""Losses of the elastic recipe. Pure functions on tensors.

Shapes: B batch, N tokens, C classes (1 for regression). `key_mask` (B, N) bool, True for real tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation(student: torch.Tensor, teacher: torch.Tensor, regression: bool) -> torch.Tensor:
    """KL(teacher || student) on the class distributions (temperature 1, as LAT), or MSE for regression."""
    if regression:
        return F.mse_loss(student.squeeze(-1), teacher.squeeze(-1))
    return F.kl_div(student.log_softmax(dim=-1), teacher.softmax(dim=-1), reduction="batchmean")


def task_loss(logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    if regression:
        return F.mse_loss(logits.squeeze(-1), labels.float())
    return F.cross_entropy(logits, labels)


def ranking_distillation(student_scores: torch.Tensor, teacher_importance: torch.Tensor, key_mask: torch.Tensor,
                         eps: float = 1e-9) -> torch.Tensor:
    """Listwise ranking distillation (ListNet): cross-entropy from the teacher's token-importance distribution
    to the student layer's, over the real tokens after [CLS] (always kept, so not ranked), minus the teacher's
    entropy (so a perfect match is 0). Both inputs are non-negative importances, e.g. ACC shares (B, N);
    padded or -inf entries are ignored. Rows with fewer than two ranked tokens contribute nothing.

    Why listwise on the shares rather than pairwise on ranks: the student's score is itself a distribution
    over tokens (attention shares), so matching distributions is one differentiable term per row, O(N), and it
    weighs the tokens near the top (the ones a profile decides about) most.
    """
    ranked = key_mask.clone()
    ranked[:, 0] = False  # (B, N)
    t = teacher_importance.masked_fill(~ranked, 0.0).clamp(min=0.0)  # (B, N)
    s = torch.nan_to_num(student_scores, neginf=0.0).masked_fill(~ranked, 0.0).clamp(min=0.0)  # (B, N)
    t = t / t.sum(dim=1, keepdim=True).clamp(min=eps)
    log_s = (s + eps).log() - (s.sum(dim=1, keepdim=True) + eps * ranked.sum(dim=1, keepdim=True)).log()
    log_t = (t + eps).log()
    per_row = (t * (log_t - log_s)).masked_fill(~ranked, 0.0).sum(dim=1)  # (B,)
    valid = ranked.sum(dim=1) >= 2
    if not valid.any():
        return student_scores.new_zeros(())
    return per_row[valid].mean()
