"""The speed bench on a tiny model returns sane fields; the calibrated latency model behaves."""
import pytest
import torch

import leanbert
from leanbert.batching import encode
from leanbert.bench import SpeedBench
from leanbert.data import Example
from leanbert.latency import LatencyModel
from leanbert.methods import build_method
from conftest import SENTENCES_NEG, SENTENCES_POS, tiny_model


def test_speed_bench_fields(tiny_tokenizer):
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
