"""PoWER-BERT (Goyal et al., 2020): keep [CLS] and the most-attended tokens, drop the rest."""
from ..config import PowerConfig
from .base import ReductionMethod


class PowerMethod(ReductionMethod):
    config_class = PowerConfig
