"""LTP peer: threshold selection on hand-made scores, batch = per-example, soft stage learns, CLI pipeline."""
import torch

import leanbert
from conftest import make_batch, tiny_model
from leanbert.core import scoring
from leanbert.methods.ltp.config import LTPConfig
from leanbert.methods.ltp.training import attach_soft_ltp
from leanbert.engine.registry import build_method
from leanbert.methods.ltp.method import survivors


def test_survivors_by_hand():
    scores = torch.tensor([[0.1, 2.0, 0.4, 0.9, float("-inf")]])
    key_mask = torch.tensor([[True, True, True, True, False]])
    assert survivors(scores, key_mask, 0.5).tolist() == [[True, True, False, True, False]]  # [CLS] kept below threshold


def test_normalised_importance_averages_one_over_real_tokens():
    probs = torch.rand(2, 3, 6, 6).softmax(-1)
    key_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    probs = probs.masked_fill(~key_mask[:, None, None, :], 0)
    probs = probs / probs.sum(-1, keepdim=True)
    s = scoring.normalised_importance(scoring.attention_stats(probs, key_mask), key_mask)
    torch.testing.assert_close(torch.where(key_mask, s, 0).sum(1) / key_mask.sum(1), torch.ones(2))


def test_batch_masks_extra_slots_so_each_row_equals_its_own_run():
    model = leanbert.apply(tiny_model(initializer_range=0.3), LTPConfig.from_thresholds((0.9, 1.0, 1.1)))
    ids, mask = make_batch(3, 14)
    batched = model(input_ids=ids, attention_mask=mask).logits
    for row in range(3):
        n = int(mask[row].sum())
        alone = model(input_ids=ids[row:row + 1, :n], attention_mask=mask[row:row + 1, :n]).logits
        torch.testing.assert_close(batched[row:row + 1], alone, atol=1e-5, rtol=1e-5)
    zero = leanbert.apply(tiny_model(initializer_range=0.3), LTPConfig.from_thresholds((0.0, 0.0, 0.0)))
    dense = leanbert.remove(tiny_model(initializer_range=0.3))(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(zero(input_ids=ids, attention_mask=mask).logits, dense)  # threshold 0: nothing pruned


def test_higher_thresholds_keep_fewer_tokens():
    hidden = torch.randn(2, 10, 4)
    key_mask = torch.ones(2, 10, dtype=torch.bool)
    scores = torch.rand(2, 10) * 2
    kept = [build_method(LTPConfig.from_thresholds((t,))).reduce(hidden, key_mask, scores, 10)[1].sum().item()
            for t in (0.2, 0.8, 1.5)]
    assert kept[0] >= kept[1] >= kept[2]


def test_soft_stage_thresholds_get_gradients_and_penalty_is_a_fraction():
    model = tiny_model()
    weights = attach_soft_ltp(model, init=0.5, temperature=0.1)
    ids, mask = make_batch(2, 12)
    loss = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1])).loss
    penalty = weights.penalty()
    assert 0 < penalty.item() < 1 and weights.kept == []
    (loss + penalty).backward()
    assert weights.threshold.grad is not None and weights.threshold.grad.abs().sum() > 0
    assert weights.config().method == "ltp"


def test_ltp_pipeline_command(tmp_path, tiny_model_dir, glue_dir):
    from typer.testing import CliRunner

    from leanbert.cli import app

    r = CliRunner().invoke(app, ["ltp", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(tmp_path / "out"),
                                 "--data-dir", str(glue_dir), "--max-length", "16", "--batch-size", "4", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    saved = leanbert.current_config(leanbert.from_pretrained(tmp_path / "out" / "ltp" / "best"))
    assert saved.method == "ltp" and len(saved.thresholds) == 3


def test_counted_flops_match_analytic_when_nothing_is_pruned_and_drop_when_pruning():
    from leanbert.data.batching import EncodedDataset
    from leanbert.measure.flops import counted_gflops, mean_gflops

    ids, _ = make_batch(1, 12, padded=False)
    ds = EncodedDataset([{"input_ids": ids[0].tolist(), "attention_mask": [1] * 12}], [0])
    model = leanbert.apply(tiny_model(initializer_range=0.3), LTPConfig.from_thresholds((0.0, 0.0, 0.0)))
    assert abs(counted_gflops(model, ds) - mean_gflops([12], model.config)) < 1e-12
    leanbert.apply(model, LTPConfig.from_thresholds((1.0, 1.0, 1.0)))
    assert counted_gflops(model, ds) < mean_gflops([12], model.config)


def test_bad_thresholds_are_refused_by_field():
    import pytest

    from leanbert.errors import ConfigError

    for bad in ((-1.0, 0.0, 0.0), (float("nan"), 0.0, 0.0)):
        with pytest.raises(ConfigError, match="thresholds"):
            LTPConfig.from_thresholds(bad)
    with pytest.raises(ConfigError, match="thresholds"):
        LTPConfig(keep_fractions=(1.0, 1.0, 1.0), thresholds=(0.5, 0.5))
    with pytest.raises(ConfigError, match="keep_fractions"):
        LTPConfig(keep_fractions=(1.0, 0.5, 0.5), thresholds=(0.5, 0.5, 0.5))
