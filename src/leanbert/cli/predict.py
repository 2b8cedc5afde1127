"""The `leanbert predict` command: parse, run, print one JSON summary line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import progress


def predict(
    checkpoint: str = typer.Argument(..., help="a fine-tuned model directory"),
    input: Path = typer.Option(..., "--input", "-i", help="texts to label: .txt (one per line), .csv, .tsv or .jsonl"),
    output: Path = typer.Option(..., "--output", "-o", help="predictions, in input order: .jsonl, .csv or .tsv"),
    text_col: str = typer.Option("text", help="column with the text (CSV/TSV/JSONL)"),
    text_pair_col: Optional[str] = typer.Option(None, help="column with a second text"),
    speedup: Optional[float] = typer.Option(None, help="target speedup (ACC-tuned or elastic checkpoints); "
                                                       "default: the checkpoint's saved profile"),
    batch_size: int = typer.Option(32, help="texts per forward pass (length-sorted)"),
    chunk_size: int = typer.Option(2048, help="rows per output chunk: the unit that is saved and resumed"),
    max_length: Optional[int] = typer.Option(None, help="tokens per text (default: the length it was fine-tuned at)"),
    overwrite: bool = typer.Option(False, help="replace a finished --output"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    threads: Optional[int] = typer.Option(None, help="torch threads per process"),
):
    """Label an unlabelled file with a fine-tuned checkpoint. An interrupted run resumes where it stopped when
    rerun with the same options; `accelerate launch --num_processes N leanbert predict ...` shares the work."""
    from .. import checks
    from .options import set_threads as _set_threads
    from ..predict.run import PredictJob, run_predict

    _set_threads(threads)
    progress.set_quiet(quiet)
    checks.writable_file(output, "--output")
    summary = run_predict(PredictJob(checkpoint, input, output, text_col, text_pair_col, speedup, batch_size,
                                     chunk_size, max_length, overwrite))
    from accelerate import PartialState

    if PartialState().is_main_process:
        typer.echo(json.dumps(summary))

