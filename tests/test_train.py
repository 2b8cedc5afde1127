"""A short training run lowers the loss, keeps the best checkpoint, resumes, and ACC offline tuning runs."""
import json

import pytest
import torch

import leanbert
from leanbert.training.train import FinetuneArgs, finetune


def args(tiny_model_dir, glue_dir, out, **kw):
    base = dict(task="sst2", output_dir=str(out), model=str(tiny_model_dir), data_dir=str(glue_dir),
                epochs=3, batch_size=8, lr=3e-3, max_length=16, eval_batch_size=16)
    base.update(kw)
    return FinetuneArgs(**base)


def test_training_lowers_loss_and_saves_best(tiny_model_dir, glue_dir, tmp_path):
    torch.set_num_threads(1)
    log = finetune(args(tiny_model_dir, glue_dir, tmp_path / "run"), progress=False)
    losses = [e["train_loss"] for e in log["epochs"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert log["best_score"] == max(e["score"] for e in log["epochs"])
    saved = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert saved["best_score"] == log["best_score"] and saved["step"] == 18
    model = leanbert.from_pretrained(tmp_path / "run" / "best")
    assert model.config.num_labels == 2 and leanbert.current_config(model) is None


def test_finished_run_is_not_repeated_and_extended_run_resumes(tiny_model_dir, glue_dir, tmp_path):
    out = tmp_path / "run"
    finetune(args(tiny_model_dir, glue_dir, out, epochs=1), progress=False)
    again = finetune(args(tiny_model_dir, glue_dir, out, epochs=1), progress=False)
    assert len(again["epochs"]) == 1  # nothing re-run
    longer = finetune(args(tiny_model_dir, glue_dir, out, epochs=2), progress=False)
    assert [e["epoch"] for e in longer["epochs"]] == [1.0, 2.0]


def test_interrupted_run_resumes_from_last_state(tiny_model_dir, glue_dir, tmp_path, monkeypatch):
    from leanbert.training import train

    out = tmp_path / "run"
    calls = {"n": 0}

    class Crash(RuntimeError):
        pass

    original = train._end_of_epoch

    def crash_after_first_epoch(*a, **k):
        original(*a, **k)
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash("simulated power cut")

    monkeypatch.setattr(train, "_end_of_epoch", crash_after_first_epoch)
    with pytest.raises(Crash):
        finetune(args(tiny_model_dir, glue_dir, out, epochs=2), progress=False)
    before = json.loads((out / "train_log.json").read_text())
    assert leanbert.from_pretrained(out / "best").config.num_labels == 2  # the checkpoint before the crash loads
    monkeypatch.setattr(train, "_end_of_epoch", original)
    log = finetune(args(tiny_model_dir, glue_dir, out, epochs=2), progress=False)
    assert [e["epoch"] for e in log["epochs"]] == [1.0, 2.0]
    assert log["epochs"][0] == before["epochs"][0] and calls["n"] == 1  # epoch 1 was not trained again


def test_resumed_run_continues_the_learning_rate_schedule(tiny_model_dir, glue_dir, tmp_path, monkeypatch):
    """The scheduler is prepared before the saved state is loaded, so it resumes at the saved step instead of
    warming up again from 0 (a resumed PoWER-BERT search drifted from the one it continued)."""
    from leanbert.training import train

    out = tmp_path / "run"
    finetune(args(tiny_model_dir, glue_dir, out, epochs=1), progress=False)
    seen, loop = {}, train._loop
    monkeypatch.setattr(train, "_loop", lambda run, progress: seen.update(
        steps=run["scheduler"].scheduler.last_epoch, log=run["log"]["step"]) or loop(run, progress))
    finetune(args(tiny_model_dir, glue_dir, out, epochs=2), progress=False)
    assert seen["log"] == 6 and seen["steps"] == 6  # 48 examples / batch 8: one epoch of steps already taken


def test_acc_offline_tuning_trains_on_drawn_profiles_and_saves_acc_config(tiny_model_dir, glue_dir, tmp_path, monkeypatch):
    from leanbert.methods.acc.tuning import ACCSampler

    drawn, sample = [], ACCSampler.sample
    monkeypatch.setattr(ACCSampler, "sample", lambda self: drawn.append(sample(self)) or drawn[-1])
    log = finetune(args(tiny_model_dir, glue_dir, tmp_path / "acc", epochs=1, acc_speedups=(1.0, 3.0)), progress=False)
    assert len(drawn) == log["step"] == 6  # one profile per training batch (48 examples, batch 8)
    assert any(min(c.keep_fractions) < 1.0 for c in drawn)  # reduced profiles were trained on
    model = leanbert.from_pretrained(tmp_path / "acc" / "best")
    assert leanbert.current_config(model) == leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0))  # saved at lo = 1


def test_retention_search_learns_counts_and_hard_retraining_uses_them(tiny_model_dir, glue_dir, tmp_path):
    log = finetune(args(tiny_model_dir, glue_dir, tmp_path / "search", epochs=2, retention_lambda=5e-2, lr_soft=5e-2),
                   progress=False)
    counts = log["retention_keep_counts"]
    assert len(counts) == 3 and all(b <= a for a, b in zip(counts, counts[1:]))
    assert counts[-1] < 16  # the penalty removed something from the last layer
    cfg = leanbert.PowerConfig(keep_counts=tuple(counts))
    log = finetune(args(tmp_path / "search" / "best", glue_dir, tmp_path / "hard", epochs=1, apply_config=cfg.to_dict()),
                   progress=False)
    model = leanbert.from_pretrained(tmp_path / "hard" / "best")
    assert leanbert.current_config(model) == cfg


def test_logged_dev_score_equals_a_fresh_evaluation_of_the_best_checkpoint(tiny_model_dir, glue_dir, tmp_path):
    """Regression: evaluating right after an epoch whose last batch was short truncated dev batches."""
    from leanbert.data.batching import encode
    from leanbert.data.datasets import load_task
    from leanbert.measure.evaluation import evaluate
    from leanbert.engine.models import load_tokenizer

    log = finetune(args(tiny_model_dir, glue_dir, tmp_path / "run", epochs=1, batch_size=7, eval_batch_size=16),
                   progress=False)  # 48 training examples: the last batch has 6
    tok = load_tokenizer(tmp_path / "run" / "best")
    data = load_task("sst2", glue_dir, splits=("dev",))
    ds, _ = encode(tok, data.split("dev"), 16)
    fresh = evaluate(leanbert.from_pretrained(tmp_path / "run" / "best"), tok, ds, data.spec, 16)
    assert fresh["score"] == log["best_score"]
