"""Token merging in the style of ToMe (Bolya et al., ICLR 2023), a peer that needs no training.

config.py  TomeConfig
method.py  inference hooks (bipartite soft matching, proportional attention)
"""
from ...engine.registry import MethodSpec, register
from ..common import profiled
from .config import TomeConfig
from .method import TomeMethod


def configs(request) -> list:
    return profiled(request, lambda fractions: TomeConfig(keep_fractions=fractions))


SPEC = register(MethodSpec("tome", TomeConfig, TomeMethod, profiled=True, configs=configs))
