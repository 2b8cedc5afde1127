"""Registry of token-reduction methods: name -> implementation class."""
from .acc import ACCMethod
from .base import ReductionMethod
from .fca import FCAMethod
from .ltp import LTPMethod
from .power import PowerMethod
from .sparse import SparseMethod
from .tome import TomeMethod

METHODS: dict[str, type[ReductionMethod]] = {"power": PowerMethod, "acc": ACCMethod, "fca": FCAMethod, "tome": TomeMethod,
                                               "ltp": LTPMethod, "sparse": SparseMethod}


def build_method(config) -> ReductionMethod:
    return METHODS[config.method](config)
