"""FCA (Zhao et al., ACL 2022): fine tokens as PoWER-BERT keeps them, the rest merged into coarse tokens.

config.py  FCAConfig
method.py  inference hooks (selection, then the coarse merge)
report.py  its section of the results report (the FLOPs claim)
Training: PoWER-BERT's search and re-training with FCA's hard config (methods/power/pipeline.py).
"""
from ...engine.registry import MethodSpec, register
from .config import FCAConfig
from .method import FCAMethod


def variant(cfg) -> str:
    return f"fca-k{cfg.coarse}-{cfg.merge}" + ("-div" if cfg.divide_by_count else "")


SPEC = register(MethodSpec("fca", FCAConfig, FCAMethod, exportable=True, variant=variant))
