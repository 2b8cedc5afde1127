"""What `leanbert predict` reads: texts (and optional pairs) from a text, CSV, TSV or JSONL file, in file order.

Columns are chosen as `finetune` chooses them (--text-col, --text-pair-col); a plain .txt file holds one text
per line. Problems are DataErrors naming the file and row, raised before any model work.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..data.datasets import read_user_file
from ..errors import DataError

FORMATS = (".txt", ".csv", ".tsv", ".jsonl")


@dataclass(frozen=True)
class Texts:
    """The input rows, in file order: `pairs` is None unless a pair column was named."""

    texts: list[str]
    pairs: list[str] | None

    def __len__(self) -> int:
        return len(self.texts)


def read_texts(path: str | Path, text_col: str = "text", text_pair_col: str | None = None) -> Texts:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unsupported file type '{suffix}', use {', '.join(FORMATS)}")
    if suffix == ".txt":
        if text_pair_col is not None:
            raise DataError(f"{path}: a .txt file has one text per line; pairs need a CSV, TSV or JSONL file")
        lines = _text_lines(path)
        return Texts([_text(line, f"{path}:{n}", "line") for n, line in lines], None)
    rows = read_user_file(path, text_col, "", text_pair_col)
    texts, pairs = [], [] if text_pair_col else None
    for n, row in enumerate(rows, 1):
        where = f"{path}:row {n}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object with a {text_col!r} field")
        texts.append(_text(_column(row, text_col, where), where, text_col))
        if pairs is not None:
            pairs.append(_text(_column(row, text_pair_col, where), where, text_pair_col))
    if not texts:
        raise DataError(f"{path}: no rows to predict")
    return Texts(texts, pairs)


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line; a trailing newline ends the last line rather than adding an empty one."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    lines = list(enumerate(raw.splitlines(), 1))
    if not lines:
        raise DataError(f"{path}: no rows to predict")
    return lines


def _column(row: dict, column: str, where: str):
    if column not in row:
        raise DataError(f"{where}: no column {column!r} (has {sorted(row)})")
    return row[column]


def _text(value, where: str, column: str) -> str:
    """A non-empty text: an empty one cannot be classified, and skipping it would shift every later row."""
    text = "" if value is None else str(value)
    if not text.strip():
        raise DataError(f"{where}: empty text in {column!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON ("\ud800"): the tokenizer would fail mid-run
        raise DataError(f"{where}: {column!r} holds an unpaired surrogate, not valid Unicode text") from None
    return text


def fingerprint(path: str | Path) -> str:
    """SHA-256 of the input's bytes: a resumed run must read exactly the file the first run read."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
