"""`leanbert export` (ONNX) and `leanbert serve` (HTTP)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError
from .app import app
from .options import check_output_file, runtime_of, set_threads


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
    quantize: Optional[str] = typer.Option(None, help="int8 or int8-per-channel: dynamic int8 quantisation of the graph "
                                                      "(checked against PyTorch fp32 within 1.0 on the logits)"),
    fuse: bool = typer.Option(False, help="run onnxruntime's transformer optimiser (attention, LayerNorm, GELU fusions)"),
    task: Optional[str] = typer.Option(None, help="also check the task score of the graph against PyTorch fp32"),
    data_dir: Optional[str] = None, split: str = "dev",
    max_drop: float = typer.Option(1.0, help="with --task: points the graph may score below PyTorch fp32"),
    threads: Optional[int] = typer.Option(None, help="torch threads for the checks (onnxruntime: its default)"),
):
    """Export to ONNX (dynamic batch and sequence length) and check it with onnxruntime against PyTorch."""
    from ..engine.api import apply, remove
    from ..deploy.export import export_and_verify
    from ..deploy.runtimes.graphs import export_runtime_graph
    from ..engine.models import load_classifier

    set_threads(threads)
    checks.at_least(profile_length, 2, "profile-length")  # a profile solved at 1 token keeps nothing to reduce
    lengths = checks.numbers(verify_lengths, "verify-lengths", int, unique=True)
    checks.at_least(max_drop, 0, "max-drop")
    if quantize not in (None, "int8", "int8-per-channel"):
        raise LeanbertError(f"--quantize {quantize}: choose int8 or int8-per-channel (leave it out for fp32)")
    runtime, precision = "onnxruntime-fused" if fuse else "onnxruntime", quantize or "fp32"
    model = load_classifier(checkpoint)
    config = _config_for_checkpoint(model, method, speedup, keep_counts, profile_length)
    apply(model, config) if config is not None else remove(model)
    if runtime == "onnxruntime" and precision == "fp32":
        info = export_and_verify(model, output, lengths)
    else:  # fused and/or int8: verified against PyTorch fp32 within deploy.runtimes.graphs.TOLERANCES
        info = export_runtime_graph(model, output, runtime, precision, lengths)
    if task is not None:
        from ..deploy.runtimes.accuracy import task_check

        info["task_check"] = task_check(model, output, checkpoint, task, data_dir, split, max_drop)
    typer.echo(json.dumps(info))


@app.command()
def serve(
    checkpoint: str = typer.Argument(..., help="a fine-tuned model directory"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = 8000,
    max_length: Optional[int] = typer.Option(None, help="tokens per text (longer texts are truncated); ACC profiles are "
                                                        "solved here (default: the length it was fine-tuned at)"),
    max_texts: int = typer.Option(64, help="texts per request"),
    max_chars: int = typer.Option(20_000, help="characters per text"),
    max_tokens: int = typer.Option(16_384, help="tokens per request after truncation"),
    batching: bool = typer.Option(True, help="run concurrent requests together (off: one request per forward)"),
    max_batch_texts: int = typer.Option(64, help="texts per batched forward"),
    batch_wait_ms: float = typer.Option(5.0, help="how long the oldest request waits for others to join its batch"),
    max_queue: int = typer.Option(256, help="requests waiting at most (per worker); more get 503"),
    limit_concurrency: Optional[int] = typer.Option(1024, help="open connections at most (per worker); more get 503"),
    threads: Optional[int] = None,
    runtime: str = typer.Option("torch", help="torch, or onnxruntime / onnxruntime-fused: exported graphs, one per profile"),
    precision: str = typer.Option("fp32", help="onnxruntime without --graph: the precision of the graph exported at start"),
    graph: list[Path] = typer.Option([], help="onnxruntime: a graph from `leanbert export` (repeat: one per speedup offered)"),
    workers: int = typer.Option(1, help="server processes on the port, each with its own model and batcher; threads "
                                        "per worker default to the cores divided among them"),
):
    """Serve a saved classifier over HTTP: GET /health, POST /classify {"texts": [...], "speedup": 2}."""
    from ..deploy.workers import ServeSpec, serve as run, threads_per_worker

    checks.in_range(port, 1, 65535, "port")  # before the model loads, not as an OverflowError after
    if min(max_texts, max_chars, max_tokens, max_batch_texts, max_queue, workers) < 1 or batch_wait_ms < 0:
        raise LeanbertError("--max-texts, --max-chars, --max-tokens, --max-batch-texts, --max-queue and --workers must "
                            "be >= 1; --batch-wait-ms >= 0")
    set_threads(threads)  # checks it; each worker sets its own share
    _check_runtime(runtime, precision, graph)
    spec = ServeSpec(str(checkpoint), max_length,
                     limits=dict(max_texts=max_texts, max_chars=max_chars, max_tokens=max_tokens),
                     batching=dict(max_texts=max_batch_texts, max_wait=batch_wait_ms / 1000, max_queue=max_queue,
                                   batching=batching),
                     runtime=runtime, precision=precision, graphs=tuple(str(g) for g in graph),
                     threads=threads_per_worker(workers, threads))
    run(spec, host, port, limit_concurrency, workers)


def _check_runtime(runtime, precision, graphs) -> None:
    """serve's runtime options, checked before the model loads."""
    runtime_of(runtime, precision)
    if runtime == "torch" and (graphs or precision != "fp32"):
        raise LeanbertError("--graph and --precision need --runtime onnxruntime (torch serves the checkpoint in fp32)")
    if runtime != "torch" and graphs and precision != "fp32":
        raise LeanbertError("--precision: --graph files keep the precision they were exported with (leanbert export --quantize)")
