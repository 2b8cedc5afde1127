"""Checks of the user's options, made before any work: numbers, comma-separated lists of numbers, and
output paths. Each failure is a LeanbertError naming the option, which the CLI prints as one line."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from .errors import LeanbertError


def numbers(text: str | None, option: str, kind: type = float, unique: bool = False) -> list:
    """Comma-separated finite numbers. `kind=int` refuses fractions (2.7 is not silently 2); `unique`
    refuses a value given twice (it would only repeat a row or collapse a key)."""
    if not text:
        return []
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LeanbertError(f"--{option} must be comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise LeanbertError(f"--{option} must be finite numbers, got {text!r}")
    if kind is int:
        if any(v != int(v) for v in values):
            raise LeanbertError(f"--{option} must be comma-separated integers, got {text!r}")
        values = [int(v) for v in values]
    repeated = sorted({v for v in values if values.count(v) > 1})
    if unique and repeated:
        raise LeanbertError(f"--{option} {text}: {repeated[0]:g} is given more than once")
    return values


def at_least(value, low, option: str):
    """`value` itself, if it is a finite number >= `low` (NaN fails every comparison, so it fails here)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
        raise LeanbertError(f"--{option} must be a number >= {low}, got {value}")
    return value


def positive(value, option: str):
    """`value` itself, if it is a finite number > 0."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise LeanbertError(f"--{option} must be a number > 0, got {value}")
    return value


def in_range(value: int, low: int, high: int, option: str) -> int:
    if not low <= value <= high:
        raise LeanbertError(f"--{option} must be in [{low}, {high}], got {value}")
    return value


def writable_file(path: str | os.PathLike, option: str) -> Path:
    """`path` (a symlink resolved: writes go to its target) if a file can be written there; checked before
    the work whose result it will hold, so a bad path never costs a run."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise LeanbertError(f"{option} {path}: is a directory, not a file")
    _writable_folder(target.parent, option, path)
    return target


def writable_dir(path: str | os.PathLike, option: str) -> Path:
    """`path` if it is, or can be created as, a directory we can write in."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_dir():
        raise LeanbertError(f"{option} {path}: is a file, not a directory")
    _writable_folder(target, option, path)
    return target


def _writable_folder(folder: Path, option: str, given) -> None:
    """The nearest existing folder at or above `folder` must be a directory that takes a new file.
    Trying one (and removing it) is the only test that also holds for root, read-only mounts and quotas."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LeanbertError(f"{option} {given}: {existing} is a file, so nothing can be created under it")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise LeanbertError(f"{option} {given}: cannot write in {existing}: {e.strerror or e}") from None
