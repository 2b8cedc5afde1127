"""Elastic fine-tuning: one checkpoint, a searched per-layer profile for every budget.

recipe.py   the training loss (sandwich rule, in-place / teacher / ranking distillation) and the held-out split
profiles.py profile shapes, projection onto a FLOPs budget, the table saved with a checkpoint (pure)
search.py   the per-budget evolutionary search on the held-out slice
losses.py   distillation and ranking losses (pure)
pipeline.py train, search, save;  command.py  the `leanbert elastic` command
"""
from ...methods.acc.profiles import profile_for, saved_table

__all__ = ["profile_for", "saved_table"]
