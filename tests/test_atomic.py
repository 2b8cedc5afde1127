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


def _append_many(path, worker, count):
    for i in range(count):
        atomic.append_jsonl(path, {"worker": worker, "i": i})


def test_concurrent_appends_from_two_processes_keep_every_row(tmp_path):
    import multiprocessing

    path, count = tmp_path / "r.jsonl", 150
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(path, w, count)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    rows = atomic.read_jsonl(path)  # every line parses: none torn
    assert sorted((r["worker"], r["i"]) for r in rows) == [(w, i) for w in range(2) for i in range(count)]
    for w in range(2):  # each process's rows in its own order
        assert [r["i"] for r in rows if r["worker"] == w] == list(range(count))
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]  # no lock file or temporary left behind


def test_writes_through_a_symlink_to_its_target(tmp_path):
    real, link = tmp_path / "real" / "r.jsonl", tmp_path / "link.jsonl"
    real.parent.mkdir()
    link.symlink_to(real)  # dangling at first: the first append creates the target
    atomic.append_jsonl(link, {"a": 1})
    atomic.append_jsonl(link, {"a": 2})
    assert link.is_symlink() and [r["a"] for r in atomic.read_jsonl(real)] == [1, 2]
    atomic.write_json(link, {"b": 3})
    assert link.is_symlink() and json.loads(real.read_text()) == {"b": 3}
