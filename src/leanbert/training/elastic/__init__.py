"""Elastic fine-tuning: one checkpoint, a searched per-layer profile for every budget.

recipe.py   the training loss (sandwich rule, in-place / teacher / ranking distillation) and the held-out split
stage.py    the recipe as a training stage of the loop (training/hooks.py)
search.py   the per-budget evolutionary search on the held-out slice
losses.py   distillation and ranking losses (pure)
pipeline.py train, search, save
The profiles and the table saved with a checkpoint are ACC's: methods/acc/profiles.py; the command: cli/elastic.py.
"""
from ...methods.acc.profiles import profile_for, saved_table

__all__ = ["profile_for", "saved_table"]
