"""Learned Token Pruning (Kim et al., KDD 2022), a peer: learned per-layer importance thresholds.

config.py    LTPConfig
method.py    inference hooks (hard threshold pruning, per-example counts)
training.py  the soft stage that learns the thresholds
pipeline.py  soft stage, then fine-tuning with hard pruning
"""
from ...engine.registry import MethodSpec, register
from .config import LTPConfig
from .method import LTPMethod

SPEC = register(MethodSpec("ltp", LTPConfig, LTPMethod, data_dependent=True))
