"""`leanbert predict`: a checkpoint over an unlabelled file, resumable, on one or many processes.

The input is cut into fixed chunks of rows. Each process (one, or N under `accelerate launch`) takes every
N-th chunk that is not done yet, predicts it in length-sorted batches and writes it atomically as one chunk
file (chunks.py); when all processes are done the first one concatenates the chunks in input order. A chunk
is the same rows, sorted and batched the same way, whoever computes it and whenever: the output of a resumed
or multi-process run is byte for byte that of one uninterrupted process (at one thread count: the sum order
inside a matrix product can change the last digits).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import progress
from ..errors import LeanbertError
from .chunks import ChunkStore, check_output
from .inputs import fingerprint, read_texts
from .model import Predictor

OUTPUT_FORMATS = (".jsonl", ".csv", ".tsv")


@dataclass(frozen=True)
class PredictJob:
    checkpoint: str
    input: Path
    output: Path
    text_col: str = "text"
    text_pair_col: str | None = None
    speedup: float | None = None
    batch_size: int = 32
    chunk_size: int = 2048
    max_length: int | None = None
    overwrite: bool = False

    def check(self) -> None:
        """Options a run would fail on late, refused before the model loads."""
        if self.output.suffix.lower() not in OUTPUT_FORMATS:
            raise LeanbertError(f"--output {self.output}: unsupported type '{self.output.suffix}', "
                                f"use {', '.join(OUTPUT_FORMATS)}")
        if self.batch_size < 1 or self.chunk_size < 1:
            raise LeanbertError("--batch-size and --chunk-size must be >= 1")
        if Path(os.path.realpath(self.input)) == Path(os.path.realpath(self.output)):
            raise LeanbertError(f"--output {self.output} is the input file; write predictions elsewhere")
        check_output(self.output, self.overwrite)


def run_predict(job: PredictJob) -> dict:
    """Predict every row of `job.input` into `job.output`; returns a summary (rows, seconds, texts per second)."""
    import torch
    from accelerate import PartialState

    job.check()
    # rank and world size under `accelerate launch` (gloo on CPU: without cpu=True, a CPU-only launch would run
    # N independent single processes); one process otherwise
    state = PartialState(cpu=not torch.cuda.is_available())
    data = read_texts(job.input, job.text_col, job.text_pair_col)
    predictor = Predictor(job.checkpoint, job.max_length, job.speedup, state.device)
    chunks = math.ceil(len(data) / job.chunk_size)
    store = ChunkStore(job.output, _manifest(job, data, predictor), chunks)
    store.prepare(create=state.is_main_process)
    state.wait_for_everyone()  # the manifest exists before any process writes a chunk
    done = store.done()
    mine = [c for c in range(state.process_index, chunks, state.num_processes) if c not in done]
    start = time.perf_counter()
    rows = _predict_chunks(job, data, predictor, store, mine, state)
    state.wait_for_everyone()
    if state.is_main_process:
        store.merge(_header(job.output, predictor))
    seconds = time.perf_counter() - start
    return {"output": str(job.output), "rows": len(data), "computed_here": rows, "resumed_chunks": len(done),
            "processes": state.num_processes, "seconds": round(seconds, 2),
            "texts_per_s": round(rows / seconds, 1) if seconds > 0 else None}


def _predict_chunks(job: PredictJob, data, predictor: Predictor, store: ChunkStore, mine: list[int], state) -> int:
    total = sum(len(range(c * job.chunk_size, min(len(data), (c + 1) * job.chunk_size))) for c in mine)
    desc = "predict" if state.num_processes == 1 else f"predict (process 1 of {state.num_processes})"
    with progress.bar(total=total, desc=desc, unit="text", disable=not state.is_main_process) as bar:
        for c in mine:
            lo, hi = c * job.chunk_size, min(len(data), (c + 1) * job.chunk_size)
            pairs = data.pairs[lo:hi] if data.pairs is not None else None
            results = predictor.predict(data.texts[lo:hi], pairs, job.batch_size)
            store.write(c, _format(job.output, predictor, range(lo, hi), results))
            bar.update(hi - lo)
    return total


def _manifest(job: PredictJob, data, predictor: Predictor) -> dict:
    """Everything the output's bytes depend on: a resumed run must match it exactly."""
    fields = asdict(job)
    fields.pop("overwrite")
    fields.update(input=str(Path(job.input).resolve()), output=str(Path(job.output).resolve()),
                  checkpoint=str(Path(job.checkpoint).resolve()), max_length=predictor.max_length,
                  input_sha256=fingerprint(job.input), rows=len(data), format_version=1)
    return fields


def _header(output: Path, predictor: Predictor) -> str:
    if output.suffix.lower() == ".jsonl":
        return ""
    return _csv_lines(output, [_columns(predictor)])


def _columns(predictor: Predictor) -> list[str]:
    middle = ["value"] if predictor.regression else ["label", *(f"p_{name}" for name in predictor.labels)]
    return ["row", *middle, "truncated"]


def _format(output: Path, predictor: Predictor, rows: range, results: list[dict]) -> str:
    if output.suffix.lower() == ".jsonl":
        return "".join(json.dumps({"row": i, **r}, ensure_ascii=False) + "\n" for i, r in zip(rows, results))
    lines = []
    for i, r in zip(rows, results):
        middle = [r["value"]] if predictor.regression else [r["label"], *r["probabilities"].values()]
        lines.append([i, *middle, str(r["truncated"]).lower()])
    return _csv_lines(output, lines)


def _csv_lines(output: Path, rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t" if output.suffix.lower() == ".tsv" else ",", lineterminator="\n").writerows(rows)
    return buffer.getvalue()
