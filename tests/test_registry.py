"""The one registry: every method folder registers its config and hooks once, and what the rest of the code asks
of a method comes from its spec."""
import pytest

import leanbert
from leanbert.engine import registry
from leanbert.engine.method import ReductionMethod
from leanbert.errors import ConfigError
from leanbert.measure.configs import check_options_used, label

PUBLIC = {"power": leanbert.PowerConfig, "acc": leanbert.ACCConfig, "fca": leanbert.FCAConfig,
          "tome": leanbert.TomeConfig, "ltp": leanbert.LTPConfig, "sparse": leanbert.SparseConfig}


def test_every_method_folder_registers_its_config_and_hooks():
    assert registry.names() == sorted(PUBLIC)
    for name, spec in registry.specs().items():
        assert spec.config is PUBLIC[name]
        assert issubclass(spec.method, ReductionMethod)
        assert spec.config.__dataclass_fields__["method"].default == name


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_a_saved_config_dict_loads_as_its_method_class(name):
    config = {"ltp": leanbert.LTPConfig.from_thresholds((0.5, 0.0)),
              "sparse": leanbert.SparseConfig.for_layers(2, width=1)}.get(name) or PUBLIC[name](keep_fractions=(1.0, 0.5))
    again = leanbert.config_from_dict(config.to_dict())
    assert type(again) is PUBLIC[name] and again == config
    assert isinstance(registry.build_method(again), registry.get(name).method)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="unknown method 'magic'.*acc"):
        registry.get("magic")
    assert not registry.has("dense", "profiled") and registry.has("acc", "profiled")


def test_options_a_method_would_ignore_are_refused_by_its_capabilities():
    check_options_used("power", [], [4, 3])
    with pytest.raises(ConfigError, match="--method tome takes no --keep-counts"):
        check_options_used("tome", [], [4, 3])
    with pytest.raises(ConfigError, match="--method fca takes no --speedup"):
        check_options_used("fca", [2.0], [])


def test_row_labels_come_from_the_method_folders():
    acc = leanbert.ACCConfig(keep_fractions=(1.0, 0.5), score="value_norm",
                             pattern=leanbert.SparseConfig.for_layers(2, layers=(1,), width=2))
    assert label(acc) == "acc-value_norm+sparse-w2-r0-g-from1"
    assert label(leanbert.FCAConfig(keep_counts=(8, 4), coarse=2, merge="mean")) == "fca-k2-mean"
    assert label(None) == "dense"


def test_no_code_outside_the_method_folders_compares_method_names():
    import re
    from pathlib import Path

    src = Path(leanbert.__file__).parent
    names = "|".join(registry.names())
    compare = re.compile(rf"""(==|!=|\bin)\s*\(?["']({names})["']|["']({names})["']\s*(==|!=)""")
    found = [f"{p.relative_to(src)}:{i}" for p in src.rglob("*.py") if "methods" not in p.relative_to(src).parts
             for i, line in enumerate(p.read_text().splitlines(), 1) if compare.search(line)]
    assert found == []
