"""leanbert: BERT-family encoders that do less work per layer, measured honestly."""
from .engine.api import apply, current_config, remove
from .engine.config import (ACCConfig, FCAConfig, LTPConfig, PowerConfig, ReductionConfig, SparseConfig, TomeConfig,
                            config_from_dict,
                     config_from_json)
from .errors import ConfigError, DataError, LeanbertError, ModelLoadError
from .methods.acc.profiles import profile_for, saved_table
from .engine.models import from_pretrained

__version__ = "0.1.0"
__all__ = [
    "apply", "remove", "current_config", "from_pretrained",
    "ReductionConfig", "PowerConfig", "ACCConfig", "FCAConfig", "TomeConfig", "LTPConfig", "SparseConfig",
    "config_from_dict", "config_from_json", "LeanbertError", "ConfigError", "DataError", "ModelLoadError",
    "profile_for", "saved_table",
]
