"""What every result row records about where it came from: the pretrained backbone (followed through the
checkpoints' train logs, never a folder name) and the git commit of the code that measured it."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from leanbert.report import results
from leanbert.engine.models import DEFAULT_BACKBONE, backbone_name

ROOT = Path(__file__).resolve().parents[1]
COMMIT = re.compile(r"^[0-9a-f]{40}(-dirty)?$")


def _checkpoint(source: Path, run: Path, start, recorded=None) -> Path:
    """A run folder as `leanbert finetune` leaves it: RUN/best and RUN/train_log.json naming its start model."""
    shutil.copytree(source, run / "best")
    log = {"args": {"model": None if start is None else str(start)}, "epochs": []}
    if recorded is not None:
        log["backbone"] = recorded
    (run / "train_log.json").write_text(json.dumps(log))
    return run / "best"


def test_backbone_is_followed_back_through_checkpoints(tmp_path, tiny_model_dir):
    """The BBC ACC rows said "best": the ACC checkpoint's train log (written by older code) recorded the dense
    checkpoint's folder name. The chain of start models names the pretrained directory instead."""
    dense = _checkpoint(tiny_model_dir, tmp_path / "runs" / "dense", tiny_model_dir, recorded="tiny-bert")
    acc = _checkpoint(tiny_model_dir, tmp_path / "runs" / "acc", dense, recorded="best")  # the stale record
    search = _checkpoint(tiny_model_dir, tmp_path / "runs" / "reduce" / "search", dense, recorded="best")
    power = _checkpoint(tiny_model_dir, tmp_path / "runs" / "reduce" / "power", search, recorded="best")
    assert backbone_name(tiny_model_dir) == "tiny-bert"  # a pretrained directory: its folder
    assert [backbone_name(p) for p in (dense, acc, power)] == ["tiny-bert"] * 3


def test_backbone_of_the_shipped_model_and_of_a_broken_chain(tmp_path, tiny_model_dir):
    assert backbone_name(_checkpoint(tiny_model_dir, tmp_path / "a", None)) == DEFAULT_BACKBONE
    gone = tmp_path / "moved" / "best"
    assert backbone_name(_checkpoint(tiny_model_dir, tmp_path / "b", gone, recorded="tiny-bert")) == "tiny-bert"
    assert backbone_name(_checkpoint(tiny_model_dir, tmp_path / "c", gone, recorded="best")) == "unknown"


def test_evaluated_rows_name_the_backbone_and_the_commit(tmp_path, tiny_model_dir, glue_dir):
    from leanbert.measure.runner import evaluate_rows

    dense = _checkpoint(tiny_model_dir, tmp_path / "runs" / "dense", tiny_model_dir)
    acc = _checkpoint(tiny_model_dir, tmp_path / "runs" / "acc", dense, recorded="best")
    rows = evaluate_rows(str(acc), "sst2", "dev", str(glue_dir), "acc", [1.0, 2.0], [], 16)
    assert {r["backbone"] for r in rows} == {"tiny-bert"}
    assert {r["commit"] for r in rows} == {results.git_commit()}


def test_every_appended_row_records_the_commit(tmp_path):
    """Rows not built by make_row (bench, studies, the speed scripts) get it where they are appended."""
    commit = results.git_commit()
    assert commit is not None and COMMIT.match(commit), commit  # the tests run from a git checkout
    results.append(tmp_path / "rows.jsonl", {"task": "mrpc", "seconds": 1.0})
    results.append(tmp_path / "rows.jsonl", {"task": "mrpc", "commit": "abc"})  # a recorded commit is kept
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [r["commit"] for r in rows] == [commit, "abc"] and all("versions" in r for r in rows)


def test_git_commit_outside_a_checkout_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "__file__", str(tmp_path / "leanbert" / "results.py"))
    (tmp_path / "leanbert").mkdir()
    results.git_commit.cache_clear()
    try:
        assert results.git_commit() is None
    finally:
        monkeypatch.undo()
        results.git_commit.cache_clear()


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "results").rglob("*.jsonl")))
def test_committed_rows_name_a_backbone_not_a_folder(path):
    for line in (ROOT / path).read_text().splitlines():
        name = json.loads(line).get("backbone")
        assert name is None or (name != "best" and "/" not in name), (path, name)
