"""LAT peer: LengthDrop sampling, the sandwich loss, the evolutionary search's pure parts, the command."""
from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

import leanbert
from conftest import make_batch, tiny_model
from leanbert.methods.lat import lengthdrop as lat
from leanbert.cli import app
from leanbert.data.datasets import load_task
from leanbert.data.held_out import split_search_slice
from leanbert.errors import ConfigError


def test_drop_fractions_and_sampler():
    assert lat.drop_fractions([0.5, 0.0, 0.5]) == (0.5, 0.5, 0.25)
    s = lat.LengthDropSampler(4, max_drop=0.2, seed=1)
    assert s.smallest().keep_fractions == pytest.approx((0.8, 0.64, 0.512, 0.4096))
    for _ in range(20):
        f = s.sample().keep_fractions
        assert all(b <= a for a, b in zip(f, f[1:])) and f[0] >= 0.8 and f[-1] >= 0.4096 - 1e-9
    with pytest.raises(ConfigError, match="max_drop"):
        lat.LengthDropSampler(4, max_drop=1.0)


def test_sandwich_loss_adds_distillation_of_sub_models():
    model = tiny_model("sdpa")
    with torch.no_grad():
        model.classifier.weight.mul_(200)  # confident logits, so sub-models visibly disagree
    leanbert.apply(model, lat.full_config(3))
    ids, mask = make_batch(4, 16)
    batch = dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 0, 1]))
    full = model(**batch)
    replay = lat.LengthDropSampler(3, 0.5, 0)
    expected = full.loss + sum(
        lat.distillation_loss(model(input_ids=ids, attention_mask=mask, leanbert_config=c).logits, full.logits, False)
        for c in [replay.smallest(), replay.sample(), replay.sample()])
    total = lat.sandwich_loss(model, batch, lat.LengthDropSampler(3, 0.5, 0), n_random=2, regression=False)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6) and total.item() >= full.loss.item()
    total.backward()
    assert all(p.grad is not None for p in model.classifier.parameters())
    teacher = torch.tensor([[2.0, -1.0]])
    assert lat.distillation_loss(teacher.clone(), teacher, False).item() == pytest.approx(0.0, abs=1e-6)
    assert lat.distillation_loss(torch.tensor([[1.0]]), torch.tensor([[3.0]]), True).item() == pytest.approx(4.0)


def test_pareto_front_and_budget_choice():
    points = [(1.0, 80.0, "a"), (2.0, 85.0, "b"), (2.5, 84.0, "c"), (3.0, 90.0, "d"), (1.5, 79.0, "e")]
    front = lat.pareto_front(points)
    assert [p[2] for p in front] == ["a", "b", "d"]
    assert lat.best_within(front, 2.7)[2] == "b" and lat.best_within(front, 0.5) is None


def test_mutation_and_crossover_stay_in_range():
    rng = random.Random(0)
    child = lat.mutate(lat.crossover([0.0] * 6, [0.2] * 6, rng), 0.2, rng, prob=1.0)
    assert len(child) == 6 and all(0 <= u <= 0.2 for u in child)
    assert lat._drops_of(lat.drop_fractions([0.1, 0.2, 0.0])) == pytest.approx([0.1, 0.2, 0.0])


def test_search_front_finds_the_trade_off():
    # a toy: score falls with the FLOPs saved; the front must span cheap and accurate configs
    def cost(fr):
        return sum(fr)

    def evaluate(fr):
        return 100 - 10 * (len(fr) - sum(fr))

    front = lat.search_front(evaluate, cost, 4, 0.3, population=6, generations=3, seed=0)
    costs = [c for c, _, _ in front]
    assert costs == sorted(costs) and front[-1][1] == pytest.approx(100.0)  # the full model is on the front
    assert len(front) >= 3


def test_lat_command(tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "lat"
    results = tmp_path / "rows.jsonl"
    r = CliRunner().invoke(app, ["lat", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out), "--data-dir",
                                 str(glue_dir), "--batch-size", "8", "--max-drop", "0.4", "--speedup", "1,1.3",
                                 "--population", "4", "--generations", "2", "--results", str(results)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "search.json").read_text())
    train = load_task("sst2", str(glue_dir), splits=("train",)).split("train")
    held = split_search_slice(train, seed=42)[1]  # the command's default seed
    assert summary["front"] and summary["search_on"] == "held-out" and summary["search_examples"] == len(held) >= 2
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [row["target_speedup"] for row in rows] == [1.0, 1.3] and all(row["variant"] == "lat" for row in rows)
    assert rows[1]["gflops_padded"]["dense"] / rows[1]["gflops_padded"]["method"] >= 1.3 - 1e-6  # within budget
    log = json.loads((out / "lengthdrop" / "train_log.json").read_text())
    assert log["args"]["lat_max_drop"] == 0.4 and log["args"]["search_slice"] is True
    r = CliRunner().invoke(app, ["lat", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out), "--speedup", "0.5"])
    assert r.exit_code != 0 and "speedup" in str(r.exception)
    r = CliRunner().invoke(app, ["lat", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out), "--data-dir",
                                 str(glue_dir), "--bench", "--bench-batch-sizes", "1,8", "--bench-examples", "4"])
    assert r.exit_code != 0 and "same number of entries" in str(r.exception)


def test_lat_searching_on_dev_labels_its_rows_so(tmp_path, tiny_model_dir, glue_dir):
    out, results = tmp_path / "lat", tmp_path / "rows.jsonl"
    r = CliRunner().invoke(app, ["lat", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out), "--data-dir",
                                 str(glue_dir), "--batch-size", "8", "--speedup", "1.2", "--population", "2",
                                 "--generations", "1", "--search-on", "dev", "--search-examples", "16",
                                 "--results", str(results)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "search.json").read_text())["search_examples"] == 16
    row = json.loads(results.read_text().splitlines()[0])
    assert row["variant"] == "lat-dev-search" and row["search_on"] == "dev"
    r = CliRunner().invoke(app, ["lat", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out),
                                 "--search-on", "test"])
    assert r.exit_code != 0 and "--search-on" in str(r.exception)


def test_search_slice_is_left_out_of_training():
    from leanbert.training.args import FinetuneArgs
    from leanbert.training.train import trained_part

    examples = [f"example {i}" for i in range(300)]
    fit, held = split_search_slice(examples, seed=5)
    assert len(held) == 30 and fit == trained_part(FinetuneArgs("sst2", "o", seed=5, search_slice=True), examples)
    assert set(fit) | set(held) == set(examples) and not set(fit) & set(held)
    assert trained_part(FinetuneArgs("sst2", "o", seed=5), examples) == examples


def test_a_run_folder_from_other_data_is_not_resumed(tmp_path, tiny_model_dir, glue_dir):
    """A LengthDrop folder trained on the whole training split (dev search) is refused, not reused, by a
    held-out run: its weights have seen the search slice."""
    from leanbert.training.args import FinetuneArgs
    from leanbert.training.train import finetune

    base = dict(task="sst2", output_dir=str(tmp_path / "run"), model=str(tiny_model_dir), data_dir=str(glue_dir),
                epochs=1, batch_size=8)
    finetune(FinetuneArgs(**base), progress=False)
    with pytest.raises(ConfigError, match="search_slice=False"):
        finetune(FinetuneArgs(**base, search_slice=True), progress=False)


def test_finetune_can_hold_the_search_slice_out(tmp_path, tiny_model_dir, glue_dir):
    """`finetune --hold-out-search-slice`: a teacher that never sees the slice the elastic/LAT searches score on."""
    out = tmp_path / "teacher"
    r = CliRunner().invoke(app, ["finetune", "--task", "sst2", "--model", str(tiny_model_dir), "-o", str(out),
                                 "--data-dir", str(glue_dir), "--epochs", "1", "--batch-size", "4",
                                 "--hold-out-search-slice"])
    assert r.exit_code == 0, r.output
    log = json.loads((out / "train_log.json").read_text())
    train = load_task("sst2", str(glue_dir), splits=("train",)).split("train")
    fit = split_search_slice(train, seed=42)[0]
    assert -(-len(fit) // 4) < -(-len(train) // 4)  # the slice changes the number of batches here
    assert log["args"]["search_slice"] is True and log["epochs"][-1]["step"] == -(-len(fit) // 4)  # batches of fit only
