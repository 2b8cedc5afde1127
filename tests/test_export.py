"""ONNX export: dynamic batch and length, checked with onnxruntime; refusals are clear."""
import copy
import json

import pytest
import torch

import leanbert
from conftest import tiny_model
from leanbert.errors import ConfigError, LeanbertError
from leanbert.deploy.export import TOLERANCE, export_and_verify, exportable_config, verify_onnx
from leanbert.core.schedule import keep_counts

pytest.importorskip("onnxruntime")

EXPORTABLE = {
    "dense": None,
    "acc": leanbert.ACCConfig(keep_fractions=(0.75, 0.5, 0.25)),
    "power": leanbert.PowerConfig(keep_counts=(8, 5, 3)),
    "fca": leanbert.FCAConfig(keep_fractions=(0.6, 0.5, 0.3), coarse=2),
}


LENGTHS = (2, 3, 9, 40)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each exportable config exported and verified once for the module (an export takes seconds), on demand:
    name -> (model, graph path, export info)."""
    done = {}

    def export(name):
        if name not in done:
            # initializer_range 0.3: logits that move with the input, so a wrong keep count shows (tested below)
            model = tiny_model(initializer_range=0.3)
            if EXPORTABLE[name] is not None:
                leanbert.apply(model, EXPORTABLE[name])
            path = tmp_path_factory.mktemp(f"onnx-{name}") / "m.onnx"
            done[name] = model, path, export_and_verify(model, path, lengths=LENGTHS, example_length=16)
        return done[name]

    return export


@pytest.mark.parametrize("name", sorted(EXPORTABLE))
def test_exported_graph_matches_pytorch_at_lengths_other_than_the_example(name, exported):
    _, path, info = exported(name)
    assert {(c["length"], c["batch"]) for c in info["checks"]} == {(n, b) for n in LENGTHS for b in (1, 3)}
    assert all(c["max_abs_diff"] <= TOLERANCE for c in info["checks"])
    assert json.loads(path.with_name("m.onnx.json").read_text())["checks"] == info["checks"]


def test_verification_catches_a_graph_with_other_keep_counts(exported):
    exported_model, path, _ = exported("acc")
    model = copy.deepcopy(exported_model)  # the shared graph's model stays as exported
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(0.5, 0.3, 0.2), min_tokens=2))
    with pytest.raises(LeanbertError, match="differs from PyTorch"):
        verify_onnx(model, path, lengths=(24,))


@pytest.mark.parametrize("config, field", [
    (leanbert.TomeConfig(keep_fractions=(0.75, 0.5, 0.4)), "method"),
    (leanbert.SparseConfig.for_layers(3, [2], width=1), "method"),
    (leanbert.PowerConfig(keep_counts=(8, 5, 1)), "keep_counts"),
])
def test_configs_that_cannot_export_are_refused_by_field(config, field):
    with pytest.raises(ConfigError, match=field):
        exportable_config(config)


def test_min_tokens_is_raised_to_two_and_reported(tmp_path):
    config = exportable_config(leanbert.ACCConfig(keep_fractions=(0.5, 0.1, 1e-6)))
    assert config.min_tokens == 2
    model = leanbert.apply(tiny_model(), leanbert.ACCConfig(keep_fractions=(0.5, 0.1, 1e-6)))
    info = export_and_verify(model, tmp_path / "m.onnx", lengths=(5, 30))
    assert info["leanbert"]["min_tokens"] == 2 and leanbert.current_config(model).min_tokens == 2


def test_lengths_equal_to_the_example_or_beyond_the_model_are_refused(tmp_path):
    model = tiny_model()
    with pytest.raises(ConfigError, match="lengths"):
        export_and_verify(model, tmp_path / "m.onnx", lengths=(16,), example_length=16)
    with pytest.raises(ConfigError, match="lengths"):
        export_and_verify(model, tmp_path / "m.onnx", lengths=(1000,))
    assert not (tmp_path / "m.onnx").exists()


def test_keep_counts_are_guard_free_functions_of_a_symbolic_length():
    """The same integer expressions give the same counts for ints and for torch's symbolic sizes."""
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    env = ShapeEnv()
    n = env.create_unbacked_symint()  # unbacked: any comparison that needs a guard raises
    torch._check(n >= 2)
    symbolic = keep_counts(n, fractions=(0.75, 0.5, 0.25), min_tokens=2)
    for length in (2, 5, 17, 128):
        concrete = keep_counts(length, fractions=(0.75, 0.5, 0.25), min_tokens=2)
        values = [int(c.node.expr.xreplace({n.node.expr: length})) for c in symbolic]
        assert values == concrete
