"""leanbert: BERT-family encoders that do less work per layer, measured honestly."""
from .engine.api import apply, current_config, remove
from .engine.config import ReductionConfig, config_from_dict, config_from_json
from .engine.models import from_pretrained
from .errors import ConfigError, DataError, LeanbertError, ModelLoadError
from .methods.acc.config import ACCConfig
from .methods.acc.profiles import profile_for, saved_table
from .methods.fca.config import FCAConfig
from .methods.ltp.config import LTPConfig
from .methods.power.config import PowerConfig
from .methods.sparse.config import SparseConfig
from .methods.tome.config import TomeConfig

__version__ = "0.1.0"
__all__ = [
    "apply", "remove", "current_config", "from_pretrained",
    "ReductionConfig", "PowerConfig", "ACCConfig", "FCAConfig", "TomeConfig", "LTPConfig", "SparseConfig",
    "config_from_dict", "config_from_json", "LeanbertError", "ConfigError", "DataError", "ModelLoadError",
    "profile_for", "saved_table",
]
