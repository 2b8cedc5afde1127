"""Learned neighbour degrees: the soft band, its gradient, the density penalty, rounding to hard bands."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import leanbert
from conftest import make_batch, tiny_model
from leanbert.cli import app
from leanbert.errors import ConfigError
from leanbert.methods.sparse.learned_band import LearnedDegrees, attach_learned_band


def test_soft_band_values_and_global_row():
    d = LearnedDegrees(3, (1, 2), heads=2, init=2.5, tau_start=0.01, tau_end=0.01)
    m = d.soft_band(0, 6, "cpu")  # (H, N, N)
    assert m.shape == (2, 6, 6)
    assert m[0, 3, 1] > 0.99 and m[0, 3, 5] > 0.99 and m[0, 3, 0] == 1.0  # within 2.5; [CLS] global
    assert m[0, 5, 1] < 0.01  # 4 apart
    assert torch.all(m[:, 0, :] == 1) and torch.all(m[:, :, 0] == 1)
    assert d.widths() == ((2, 2), (2, 2))  # floor: the m > 1/2 region |i - j| < 2.5


def test_temperature_anneals_geometrically():
    d = LearnedDegrees(2, (0,), heads=1, tau_start=4.0, tau_end=0.5)
    assert d.temperature() == pytest.approx(4.0)
    d.set_progress(0.5)
    assert d.temperature() == pytest.approx(2 ** 0.5)
    d.set_progress(1.0)
    assert d.temperature() == pytest.approx(0.5)


def test_penalty_gradient_narrows_the_band_and_task_gradient_reaches_widths():
    model = tiny_model("sdpa")
    degrees = attach_learned_band(model, (1, 2), init=3.0)
    ids, mask = make_batch(2, 12)
    out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1]))
    out.loss.backward(retain_graph=True)
    assert degrees.degree.grad is not None and degrees.degree.grad.abs().sum() > 0  # the task moves the widths
    degrees.degree.grad = None
    model(input_ids=ids, attention_mask=mask)  # records densities again
    penalty = degrees.penalty()
    assert 0 < penalty.item() < 1
    penalty.backward()
    assert torch.all(degrees.degree.grad > 0)  # gradient descent makes every band narrower
    assert degrees.penalty().item() == 0  # the record was cleared


def test_soft_band_at_low_temperature_equals_the_hard_band():
    torch.manual_seed(0)
    model = tiny_model("sdpa")
    ids, mask = make_batch(3, 20)
    degrees = attach_learned_band(model, (0, 1, 2), init=3.5, tau_start=1e-3, tau_end=1e-3)
    with torch.no_grad():
        degrees.degree[1, 2] = 0.4  # a head that sees only itself and [CLS]
        soft = model(input_ids=ids, attention_mask=mask).logits
    leanbert.apply(model, degrees.config())
    hard = model(input_ids=ids, attention_mask=mask).logits
    assert degrees.config().head_widths[1] == (3, 3, 0, 3)
    torch.testing.assert_close(soft, hard, atol=1e-4, rtol=1e-4)


def test_bad_layers_and_temperatures():
    with pytest.raises(ConfigError, match="layers"):
        LearnedDegrees(3, (), heads=2)
    with pytest.raises(ConfigError, match="layers"):
        LearnedDegrees(3, (3,), heads=2)
    with pytest.raises(ConfigError, match="temperature"):
        LearnedDegrees(3, (1,), heads=2, tau_end=0)


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_learn_band_command(tmp_path, tiny_model_dir, glue_dir, lam):
    out = tmp_path / "band"
    r = CliRunner().invoke(app, ["learn-band", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out),
                                 "--data-dir", str(glue_dir), "--batch-size", "8", "--lambda", str(lam), "--lr-soft", "1.0",
                                 "--init-width", "6", "--from-layer", "1"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    saved = json.loads((out / "band" / "best" / "config.json").read_text())["leanbert"]
    assert saved["method"] == "sparse" and saved["layers"] == [1, 2] and len(saved["head_widths"][0]) == 4
    assert saved == summary["config"]
    widths = [w for row in saved["head_widths"] for w in row]
    if lam > 0:
        assert max(widths) < 6  # the density penalty pulled every band in from its initial width
    r = CliRunner().invoke(app, ["learn-band", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out),
                                 "--temperature", "1"])
    assert r.exit_code != 0 and "temperature" in str(r.exception)
