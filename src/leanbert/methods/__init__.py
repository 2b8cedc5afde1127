"""Registry of token-reduction methods: name -> implementation class."""
from .acc import ACCMethod
from .base import ReductionMethod
from .fca import FCAMethod
from .power import PowerMethod

METHODS: dict[str, type[ReductionMethod]] = {"power": PowerMethod, "acc": ACCMethod, "fca": FCAMethod}


def build_method(config) -> ReductionMethod:
    return METHODS[config.method](config)
