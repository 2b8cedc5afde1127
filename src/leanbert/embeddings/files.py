"""Texts in (plain text, CSV/TSV, JSONL), embeddings out (.npy or JSONL), resumable chunk by chunk.

Input rules (docs/methods.md, "Sentence embeddings"): a plain-text file holds one text per line; CSV/TSV and
JSONL take the text from a column (`text` by default; blank JSONL lines are skipped). A text that is empty or
holds only whitespace or control characters is refused with its line number (it would embed as the empty
text, which is almost never what a user meant); a file that is not UTF-8 is refused with the byte's position.

Resume: rows are embedded in chunks of CHUNK texts; each finished chunk is written atomically into
OUTPUT.partial/ beside a `run.json` marker (a fingerprint of the texts and the settings). An interrupted run,
started again with the same input and settings, skips the chunks already there; the output file is
assembled (atomically) only at the end, and the partial folder removed. Every row is written exactly once.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
import unicodedata
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import DataError

CHUNK = 2048  # texts per resumable chunk: a few seconds of work lost at most on an interrupt
OUTPUT_SUFFIXES = (".npy", ".jsonl")
csv.field_size_limit(sys.maxsize)  # one huge cell is a text to truncate, not a parser error


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark is not part of the first text
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DataError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); convert it, e.g. "
                        f"iconv -f latin1 -t utf-8") from None


def check_text(text, where: str) -> str:
    """The text itself, or one line saying why it cannot be embedded."""
    if not isinstance(text, str):
        raise DataError(f"{where}: the text is {type(text).__name__}, not a string")
    if all(unicodedata.category(ch)[0] in "CZ" for ch in text):  # the tokenizer drops all of these
        raise DataError(f"{where}: the text is empty (or only whitespace or control characters); remove the row, "
                        "since every row must be one text")
    return text


def read_texts(path: str | os.PathLike, text_col: str = "text") -> list[str]:
    """The texts of `path`, by its suffix: .csv/.tsv and .jsonl by column, anything else one per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    content, suffix = _decode(path), path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _read_table(content, path, text_col, "\t" if suffix == ".tsv" else ",")
    if suffix == ".jsonl":
        return _read_jsonl(content, path, text_col)
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    return [check_text(line.removesuffix("\r"), f"{path} line {i + 1}") for i, line in enumerate(lines)]


def _read_table(content: str, path: Path, text_col: str, delimiter: str) -> list[str]:
    reader = csv.DictReader(content.splitlines(), delimiter=delimiter)
    if text_col not in (reader.fieldnames or []):
        raise DataError(f"{path}: no column {text_col!r} (columns: {', '.join(reader.fieldnames or [])}); "
                        "choose one with --text-col")
    return [check_text(row[text_col], f"{path} row {i + 2}") for i, row in enumerate(reader)]


def _read_jsonl(content: str, path: Path, text_col: str) -> list[str]:
    texts = []
    for i, line in enumerate(content.splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path} line {i + 1}: not JSON ({e.msg})") from None
        if not isinstance(record, dict) or text_col not in record:
            raise DataError(f"{path} line {i + 1}: no field {text_col!r}; choose one with --text-col")
        texts.append(check_text(record[text_col], f"{path} line {i + 1}"))
    return texts


def check_output(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"--output {path}: must end with {' or '.join(OUTPUT_SUFFIXES)}")
    return path


def fingerprint(texts: list[str], settings: dict) -> dict:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return {"texts": len(texts), "sha256": digest.hexdigest(), "chunk": CHUNK, **settings}


class ChunkStore:
    """OUTPUT.partial/: finished chunks, each written whole (a crash leaves a chunk absent, never torn)."""

    def __init__(self, output: Path, marker: dict):
        self.output, self.folder = output, output.with_name(output.name + ".partial")
        marker_file = self.folder / "run.json"
        if marker_file.is_file() and json.loads(marker_file.read_text(encoding="utf-8")) != marker:
            raise DataError(f"{self.folder} holds an unfinished run of other input or settings; delete it to start "
                            "over, or run again with the same input and options to resume it")
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(marker_file) as tmp:
            tmp.write_text(json.dumps(marker, sort_keys=True), encoding="utf-8")

    def part(self, index: int) -> Path:
        return self.folder / f"part-{index:06d}.npy"

    def done(self, index: int) -> bool:
        return self.part(index).is_file()

    def write(self, index: int, rows: np.ndarray) -> None:
        with atomic_path(self.part(index)) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.save would add .npy to the temporary name
                np.save(f, rows)

    def assemble(self, n_chunks: int, n_rows: int, dim: int) -> None:
        """Write OUTPUT from the chunks (streamed: the corpus need not fit in memory twice), then clean up."""
        with atomic_path(self.output) as tmp:
            if self.output.suffix.lower() == ".npy":
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_rows, dim))
                for i in range(n_chunks):
                    part = np.load(self.part(i))
                    out[i * CHUNK:i * CHUNK + len(part)] = part
                out.flush()
                del out
            else:
                with open(tmp, "w", encoding="utf-8") as f:
                    for i in range(n_chunks):
                        for j, row in enumerate(np.load(self.part(i))):
                            f.write(json.dumps({"row": i * CHUNK + j, "embedding": [round(float(x), 7) for x in row]}) + "\n")
        shutil.rmtree(self.folder, ignore_errors=True)
