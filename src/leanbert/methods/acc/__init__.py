"""ACC word-vector elimination (Kachuee & Sharifkhani, 2022), reconstructed from the abstract.

config.py    ACCConfig
method.py    inference hooks (the ACC and value-norm scores)
profiles.py  an elastic checkpoint's searched profile per budget (the table saved with it; pure)
tuning.py    offline tuning: a profile for a target speedup drawn per training batch
Elastic fine-tuning (training/elastic/) trains ACC checkpoints that run at any budget.
"""
from ...engine.registry import MethodSpec, register
from ...errors import ConfigError
from ..common import profiled
from .config import ACCConfig
from .method import ACCMethod
from .profiles import profile_for, saved_table


def searched(request) -> bool:
    """Whether the request takes an elastic checkpoint's searched profiles (the row variant "elastic")."""
    return request.profiles == "searched" and bool(saved_table(request.hf_config))


def configs(request) -> list:
    if searched(request):
        if not request.speedups:
            raise ConfigError("invalid config field 'speedup': --method acc needs --speedup, e.g. 1.5,2,3")
        return [(s, profile_for(request.hf_config, s)) for s in request.speedups]
    return profiled(request, lambda fractions: ACCConfig(keep_fractions=fractions, score=request.score))


def variant(cfg) -> str:
    return "acc" if cfg.score == "acc" else f"acc-{cfg.score}"


SPEC = register(MethodSpec("acc", ACCConfig, ACCMethod, exportable=True, profiled=True, adjustable=True,
                           configs=configs, variant=variant, searched=searched))
