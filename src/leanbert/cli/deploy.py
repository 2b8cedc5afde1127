"""`leanbert export` (ONNX) and `leanbert serve` (HTTP)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError
from .app import app
from .options import check_output_file, set_threads


def _config_for_checkpoint(model, method: str, speedup: str, keep_counts: str, profile_length: int):
    """The config a deployment command runs: the checkpoint's saved one, dense, or a profile solved for one
    target speedup at `profile_length` tokens (fractions of the length, so they apply at any length)."""
    from ..engine.api import current_config
    from ..measure.configs import SAVED, check_options_used, configs_for

    targets, counts = checks.numbers(speedup, "speedup"), checks.numbers(keep_counts, "keep-counts", int)
    if len(targets) > 1:
        raise LeanbertError("--speedup takes one target here")
    check_options_used(method, targets, counts)
    if method == SAVED:
        return current_config(model)
    return configs_for(method, targets, counts, model.config, profile_length)[0][1]


@app.command()
def export(
    checkpoint: str = typer.Argument(..., help="a fine-tuned model directory"),
    output: Path = typer.Option(..., "--output", "-o", help="the .onnx file to write (PATH.json records the checks)",
                                callback=check_output_file),
    method: str = typer.Option("saved", help="saved (the checkpoint's config), dense, acc, or power"),
    speedup: str = typer.Option("", help="acc/power: one target speedup"),
    keep_counts: str = typer.Option("", help="power: tokens kept after each layer"),
    profile_length: int = typer.Option(128, help="length at which a --speedup profile is solved"),
    verify_lengths: str = typer.Option("7,33,100", help="sequence lengths checked against PyTorch with onnxruntime"),
):
    """Export to ONNX (dynamic batch and sequence length) and check it with onnxruntime against PyTorch."""
    from ..engine.api import apply, remove
    from ..deploy.export import export_and_verify
    from ..engine.models import load_classifier

    checks.at_least(profile_length, 2, "profile-length")  # a profile solved at 1 token keeps nothing to reduce
    lengths = checks.numbers(verify_lengths, "verify-lengths", int, unique=True)
    model = load_classifier(checkpoint)
    config = _config_for_checkpoint(model, method, speedup, keep_counts, profile_length)
    apply(model, config) if config is not None else remove(model)
    info = export_and_verify(model, output, lengths)
    typer.echo(json.dumps(info))


@app.command()
def serve(
    checkpoint: str = typer.Argument(..., help="a fine-tuned model directory"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = 8000,
    max_length: int = typer.Option(128, help="tokens per text (longer texts are truncated); ACC profiles are solved here"),
    max_texts: int = typer.Option(64, help="texts per request"),
    max_chars: int = typer.Option(20_000, help="characters per text"),
    threads: Optional[int] = None,
):
    """Serve a saved classifier over HTTP: GET /health, POST /classify {"texts": [...], "speedup": 2}."""
    from ..deploy.serve import Limits, serve as run

    set_threads(threads)
    checks.in_range(port, 1, 65535, "port")  # before the model loads, not as an OverflowError after
    if max_texts < 1 or max_chars < 1:
        raise LeanbertError("--max-texts and --max-chars must be >= 1")
    run(checkpoint, host, port, max_length, Limits(max_texts=max_texts, max_chars=max_chars))
