"""The speed bench on a tiny model returns sane fields; the calibrated latency model behaves."""
import numpy as np
import pytest
import torch

import leanbert
from leanbert.data.batching import encode
from leanbert.measure.bench import SpeedBench
from leanbert.data.datasets import Example
from leanbert.measure.latency import LatencyModel
from leanbert.engine.registry import build_method
from conftest import SENTENCES_NEG, SENTENCES_POS, tiny_model


def test_speed_bench_fields(tiny_tokenizer, quick_calibration):
    torch.set_num_threads(1)
    model = tiny_model(vocab_size=64)
    examples = [Example(s, None, 1) for s in SENTENCES_POS + SENTENCES_NEG]
    ds, _ = encode(tiny_tokenizer, examples, 16)
    bench = SpeedBench(model, tiny_tokenizer, ds, 16, batch_sizes=(1, 4), examples_per_batch_size={1: 4, 4: 8},
                       min_run_time=0.05)
    out = bench.speedups(leanbert.PowerConfig(keep_counts=(4, 3, 2)))
    for protocol in ("padded", "dynamic"):
        assert set(out[protocol]) == {"1", "4"}
        assert all(v > 0 for v in out[protocol].values())
        assert all(v > 0 for v in out["calibrated"][protocol].values())
    assert set(out["seconds"]) == {"padded_bs1", "dynamic_bs1", "padded_bs4", "dynamic_bs4"}


def test_latency_model_predicts_one_for_dense_and_more_for_fewer_tokens():
    model = tiny_model()
    lat = LatencyModel.fit(model, 2, lengths=(8, 16, 32, 48), min_run_time=0.02)
    dense = build_method(leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)))
    assert lat.predicted_speedup([48, 32], dense, 3) == pytest.approx(1.0)
    assert lat.encoder_seconds(48, [48, 48, 48], 3) > 0
    # the prediction itself, on costs set by hand (a tiny model's timings are mostly fixed overhead):
    # attention quadratic, scoring attention dearer, the FFN linear in the tokens
    costs = LatencyModel(2, np.array([1e-6, 0, 0]), np.array([1.2e-6, 0, 0]), np.array([1e-5, 0]))
    fewer, fewest = (build_method(leanbert.ACCConfig(keep_fractions=f)) for f in ((0.8, 0.6, 0.5), (0.5, 0.25, 0.1)))
    assert 1.0 < costs.predicted_speedup([48, 32], fewer, 3) < costs.predicted_speedup([48, 32], fewest, 3)


def test_timed_and_evaluated_models_really_run_the_config(tiny_tokenizer, monkeypatch):
    """Regression: an unpatched model silently ignored a per-call config, so 'speedups' were noise."""
    from leanbert.measure.bench import make_batches, time_batches

    model = tiny_model(vocab_size=64)
    ds, _ = encode(tiny_tokenizer, [Example(" ".join(SENTENCES_POS), None, 1)] * 2, 16)
    batches = make_batches(ds, tiny_tokenizer, 2, 16)
    seen = []
    hook = model.bert.encoder.layer[2].intermediate.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
    time_batches(model, batches, leanbert.PowerConfig(keep_counts=(8, 4, 2)), min_run_time=0.01)
    assert set(seen) == {2}
    seen.clear()
    time_batches(model, batches, None, min_run_time=0.01)
    assert set(seen) == {16} and leanbert.current_config(model) is None
    hook.remove()


def test_per_call_config_on_unpatched_model_is_refused(tiny_tokenizer):
    from leanbert.measure.evaluation import predict
    from leanbert.data.tasks import GLUE_TASKS

    model = tiny_model(vocab_size=64)
    ds, _ = encode(tiny_tokenizer, [Example("good movie", None, 1)], 16)
    with pytest.raises(leanbert.ConfigError, match="patched"):
        predict(model, tiny_tokenizer, ds, GLUE_TASKS["sst2"], leanbert_config=leanbert.PowerConfig(keep_counts=(2, 2, 2)))


def test_evaluate_rows_applies_each_config(tiny_model_dir, glue_dir, monkeypatch):
    from leanbert.measure import runner

    seen = []
    real = runner.evaluate

    def spy(model, *a, **k):
        seen.append((leanbert.current_config(model), k.get("equal_length", False)))
        return real(model, *a, **k)

    monkeypatch.setattr(runner, "evaluate", spy)
    rows = runner.evaluate_rows(tiny_model_dir, "sst2", "dev", glue_dir, "acc", [1.0, 2.0], [], 16)
    assert seen[0] == (None, False)  # the dense score
    assert [c.keep_fractions for c, _ in seen[1:]] == [tuple(r["config"]["keep_fractions"]) for r in rows]
    assert seen[2][0].keep_fractions[-1] < 1.0
    # reduction configs are scored on equal-length batches (their keep counts follow the batch length)
    assert all(equal for _, equal in seen[1:]) and {r["eval_batches"] for r in rows} == {"equal_length"}


def test_dense_and_method_are_measured_alternately(tiny_tokenizer, monkeypatch):
    """Each ratio comes from alternating dense/method rounds measured beside the config: the median of the
    per-round ratios (a slow machine in one round slows both halves of that round), with their spread."""
    from leanbert.measure import bench as bench_module

    model = tiny_model("sdpa", vocab_size=tiny_tokenizer.vocab_size)
    ds, _ = encode(tiny_tokenizer, [Example(s, None, 1) for s in SENTENCES_POS + SENTENCES_NEG], 16)
    calls = []
    fake_seconds = iter([4.0, 2.0, 2.0, 1.0, 3.0, 1.0] * 4)  # dense, method, ...: round ratios 2, 2, 3

    def fake_time(model, batches, config=None, min_run_time=1.0):
        calls.append((config is None, min_run_time))
        return next(fake_seconds)

    monkeypatch.setattr(bench_module, "time_batches", fake_time)
    speed = SpeedBench(model, tiny_tokenizer, ds, 16, (2,), {2: 4}, min_run_time=0.9, calibrate=False, rounds=3)
    out = speed.speedups(leanbert.ACCConfig(keep_fractions=(0.5, 0.5, 0.5)))
    assert [dense for dense, _ in calls[:6]] == [True, False, True, False, True, False]
    assert all(t == pytest.approx(0.3) for _, t in calls)
    assert out["padded"]["2"] == 2.0 and out["rounds"] == {"2": 3}  # not median dense 3.0 / median method 1.0
    assert out["spread"]["padded"]["2"] == [2.0, 3.0] and out["seconds"]["padded_bs2"] == {"dense": 3.0, "method": 1.0}
    with pytest.raises(leanbert.ConfigError, match="rounds"):
        SpeedBench(model, tiny_tokenizer, ds, 16, (2,), {2: 4}, calibrate=False, rounds=0)

    # rounds per batch size: more pairs where passes are short; each half gets min_run_time / its rounds
    calls.clear()
    fake_seconds = iter([2.0, 1.0] * 100)
    speed = SpeedBench(model, tiny_tokenizer, ds, 16, (1, 2), {1: 2, 2: 4}, min_run_time=0.9, calibrate=False,
                       rounds={1: 5, 2: 3})
    out = speed.speedups(leanbert.ACCConfig(keep_fractions=(0.5, 0.5, 0.5)))
    assert len(calls) == 2 * 2 * (5 + 3) and out["rounds"] == {"1": 5, "2": 3}
    assert sorted({round(t, 3) for _, t in calls}) == [0.18, 0.3]
    with pytest.raises(leanbert.ConfigError, match="rounds"):
        SpeedBench(model, tiny_tokenizer, ds, 16, (1, 2), {1: 2, 2: 4}, calibrate=False, rounds={1: 5})

