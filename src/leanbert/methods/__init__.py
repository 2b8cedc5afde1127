"""Registry of token-reduction methods: name -> implementation class."""
from .acc.method import ACCMethod
from ..engine.method import ReductionMethod
from .fca.method import FCAMethod
from .ltp.method import LTPMethod
from .power.method import PowerMethod
from .sparse.method import SparseMethod
from .tome.method import TomeMethod

METHODS: dict[str, type[ReductionMethod]] = {"power": PowerMethod, "acc": ACCMethod, "fca": FCAMethod, "tome": TomeMethod,
                                               "ltp": LTPMethod, "sparse": SparseMethod}


def build_method(config) -> ReductionMethod:
    return METHODS[config.method](config)
