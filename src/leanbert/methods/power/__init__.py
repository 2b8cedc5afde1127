"""PoWER-BERT (Goyal et al., 2020): keep [CLS] and the most-attended tokens, drop the rest.

config.py     PowerConfig
method.py     inference hooks (the base class's score and selection)
retention.py  the retention-configuration search (soft extraction), its training stage
pipeline.py   search, then re-train with hard extraction (shared with FCA: methods/fca)
"""
from ...engine.registry import MethodSpec, register
from ...errors import ConfigError
from ..common import profiled
from .config import PowerConfig
from .method import PowerMethod


def configs(request) -> list:
    if request.counts:
        return [(None, PowerConfig(keep_counts=tuple(request.counts)))]
    if not request.speedups:
        raise ConfigError("invalid config field 'keep_counts': --method power needs --keep-counts or --speedup")
    return profiled(request, lambda fractions: PowerConfig(keep_fractions=fractions))


SPEC = register(MethodSpec("power", PowerConfig, PowerMethod, exportable=True, profiled=True, takes_counts=True,
                           configs=configs))
