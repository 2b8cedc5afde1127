"""Writes are atomic: an error mid-write leaves what was there before, whole."""
import json

import pytest

from leanbert import atomic


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "log.json"
    atomic.write_json(target, {"best": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text('{"best": ')  # half-written...
            raise RuntimeError("crash")  # ...then the process dies
    assert json.loads(target.read_text()) == {"best": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["log.json"]  # no temporary left behind


def test_failed_directory_write_keeps_the_old_checkpoint(tmp_path):
    target = tmp_path / "best"
    with atomic.atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "model.safetensors").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "model.safetensors").write_text("v2-partial")
            raise RuntimeError("disk full")
    assert (target / "model.safetensors").read_text() == "v1"
    with atomic.atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "model.safetensors").write_text("v3")
    assert (target / "model.safetensors").read_text() == "v3"


def test_append_jsonl_keeps_earlier_rows(tmp_path):
    path = tmp_path / "r.jsonl"
    atomic.append_jsonl(path, {"a": 1})
    atomic.append_jsonl(path, {"a": 2})
    assert [json.loads(l)["a"] for l in path.read_text().splitlines()] == [1, 2]
