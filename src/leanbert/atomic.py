"""Atomic file writes: a crash or an error mid-write never leaves a half-written file behind."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; appends from one process stay whole, concurrent ones may race
    fcntl = None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temporary path next to `target`; move it over `target` only if the block succeeds.
    A symlink is written through: its target gets the file, and the link stays a link."""
    target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)) / target.name
    try:
        yield tmp
        replace(tmp, target)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def replace(source: Path, target: Path) -> None:
    """Move a finished file or directory over `target`; a directory target is swapped out whole."""
    if target.is_dir() and source.is_dir():
        backup = target.with_name(f".{target.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(target, backup)
        os.replace(source, target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(source, target)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike, obj) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_jsonl(target: str | os.PathLike, row: dict) -> None:
    """Append one JSON line; the existing lines are rewritten atomically so none is ever torn. The
    read-and-replace holds an exclusive lock on the folder, so concurrent appenders (processes running
    evaluate or bench into one results file) queue instead of overwriting each other's rows."""
    target = Path(os.path.realpath(target))
    line = json.dumps(row, sort_keys=True) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent):
        old = target.read_text(encoding="utf-8") if target.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        write_text(target, old + line)


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive advisory lock on `folder` itself: the file it guards is replaced (a new inode) on
    every write, so locking the file would not exclude anyone, and a lock file would litter results/."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_jsonl(source: str | os.PathLike) -> list[dict]:
    """The rows of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in Path(source).read_text(encoding="utf-8").splitlines() if line.strip()]
