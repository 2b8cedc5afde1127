"""Resumable output of `leanbert predict`: finished chunks of rows kept beside the output until all are done.

OUTPUT.partial/ holds manifest.json (what the run reads and how it predicts) and one file per finished chunk
of input rows, each written atomically (a temporary file renamed into place), so a chunk file is either whole
or absent whatever stops the run: Ctrl-C, kill -9, a crash, a full disk. The chunk files are the resume
marker: a rerun with the same options skips them and computes only the missing chunks, so no row is computed
twice into the output or lost. When every chunk is there, they are concatenated in input order into OUTPUT
(atomically again) and the folder is removed. Chunks are fixed ranges of input rows, not of one process's
work, so any number of processes can share (or resume) a run.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..atomic import atomic_path, write_json, write_text
from ..errors import LeanbertError

MANIFEST = "manifest.json"
_CHUNK = re.compile(r"chunk-(\d{8})\.part")


def partial_folder(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def check_output(output: Path, overwrite: bool) -> None:
    """A finished output is kept unless --overwrite: only an unfinished run (its .partial folder) resumes."""
    if output.exists() and not partial_folder(output).is_dir() and not overwrite:
        raise LeanbertError(f"--output {output} already exists; pass --overwrite to replace it")


class ChunkStore:
    def __init__(self, output: Path, manifest: dict, chunks: int):
        self.output, self.manifest, self.chunks = output, manifest, chunks
        self.folder = partial_folder(output)

    def prepare(self, create: bool) -> None:
        """Check that a folder left by an earlier run was made with these options; `create` (one process
        only) writes the manifest of a new run."""
        path = self.folder / MANIFEST
        if path.is_file():
            self._check_same(json.loads(path.read_text(encoding="utf-8")))
        elif create:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json(path, self.manifest)

    def _check_same(self, old: dict) -> None:
        for key in sorted(set(old) | set(self.manifest)):
            if old.get(key) != self.manifest.get(key):
                raise LeanbertError(f"{self.folder} holds an unfinished run with {key}={old.get(key)!r}, but this run "
                                    f"has {key}={self.manifest.get(key)!r}: rerun with the same options to resume, "
                                    f"or delete {self.folder} to start over")

    def done(self) -> set[int]:
        if not self.folder.is_dir():
            return set()
        found = (_CHUNK.fullmatch(p.name) for p in self.folder.iterdir())
        return {int(m.group(1)) for m in found if m}

    def write(self, index: int, text: str) -> None:
        write_text(self.folder / f"chunk-{index:08d}.part", text)

    def merge(self, header: str = "") -> None:
        """OUTPUT from the chunks in input order, then the folder goes (a crash between the two leaves both,
        and a rerun merges again: the same bytes)."""
        missing = sorted(set(range(self.chunks)) - self.done())
        if missing:
            raise LeanbertError(f"{self.folder}: chunk {missing[0]} of {self.chunks} is missing; rerun to compute it")
        with atomic_path(self.output) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(header)
            for index in range(self.chunks):
                with open(self.folder / f"chunk-{index:08d}.part", encoding="utf-8", newline="") as part:
                    shutil.copyfileobj(part, out)
        shutil.rmtree(self.folder, ignore_errors=True)
