"""Config validation names the field; JSON round trip; newer format versions refused."""

import pytest

import leanbert
from leanbert.engine.config import config_from_dict, config_from_json
from leanbert.errors import ConfigError


@pytest.mark.parametrize("kwargs, field", [
    (dict(keep_counts=(0, 1)), "keep_counts"),
    (dict(keep_counts=(-3,)), "keep_counts"),
    (dict(keep_counts=(2, 5)), "keep_counts"),
    (dict(keep_counts=(2.5,)), "keep_counts"),
    (dict(keep_fractions=(0.0,)), "keep_fractions"),
    (dict(keep_fractions=(1.5,)), "keep_fractions"),
    (dict(keep_fractions=(float("nan"),)), "keep_fractions"),
    (dict(keep_fractions=(0.2, 0.5)), "keep_fractions"),
    (dict(), "keep_counts"),
    (dict(keep_counts=(3,), keep_fractions=(0.5,)), "keep_counts"),
    (dict(keep_counts=(3,), min_tokens=0), "min_tokens"),
])
def test_invalid_power_configs_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        leanbert.PowerConfig(**kwargs)


def test_unknown_method_and_acc_score_are_named():
    with pytest.raises(ConfigError, match="'method'.*unknown method 'magic'"):
        config_from_dict({"method": "magic", "keep_counts": [3]})
    with pytest.raises(ConfigError, match="'score'"):
        leanbert.ACCConfig(keep_fractions=(0.5,), score="entropy")


def test_json_round_trip_and_version_checks():
    cfg = leanbert.ACCConfig(keep_fractions=(0.9, 0.5), score="value_norm", min_tokens=3)
    assert config_from_json(cfg.to_json()) == cfg
    newer = dict(cfg.to_dict(), format_version=99)
    with pytest.raises(ConfigError, match="newer leanbert"):
        config_from_dict(newer)
    with pytest.raises(ConfigError, match="not a field"):
        config_from_dict(dict(cfg.to_dict(), surprise=1))
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_from_json('{"method": "acc", ')


def test_importing_leanbert_leaves_the_environment_alone():
    """The loaders pass local_files_only=True themselves; importing the package must not switch the whole
    process offline (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) for the user's other code. The dependencies are
    imported first: loading Hugging Face's BERT sets TORCHINDUCTOR_CACHE_DIR, which is torch's doing."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if "OFFLINE" not in k}
    code = ("import os; from transformers import BertModel; before = dict(os.environ); "
            "import leanbert, leanbert.cli, leanbert.engine.models; "
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
