"""`leanbert embed MODEL --input FILE --output FILE [--speedup s]`: sentence embeddings of a file, resumable."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import LeanbertError


def _output_file(param: typer.CallbackParam, value: Optional[Path]):
    # annotated: typer passes the parameter by its type (an unannotated callback got the Context)
    from .options import check_output_file as check

    return check(param, value)


def embed(
    model: str = typer.Argument("default", help="a local model directory or an installed backbone "
                                                "(default: all-MiniLM-L6-v2)"),
    input: Path = typer.Option(..., "--input", "-i", help="one text per line, or .csv/.tsv/.jsonl with --text-col"),
    output: Path = typer.Option(..., "--output", "-o", help=".npy (float32 rows) or .jsonl ({row, embedding})",
                                callback=_output_file),
    speedup: float = typer.Option(1.0, help="training-free FLOPs target (1: the dense model)"),
    method: str = typer.Option("tome", help="tome (merging), power or acc (dropping)"),
    start_layer: int = typer.Option(0, help="first layer that reduces"),
    pooling: str = typer.Option("exit", help="exit (dropped tokens pooled where they leave) or survivors"),
    batch_size: int = typer.Option(32, help="texts per batch (each batch holds one token length)"),
    max_length: Optional[int] = typer.Option(None, help="tokens per text, longer texts truncated (default: the "
                                                        "model's sentence-transformers setting)"),
    text_col: str = typer.Option("text", help="the text column of a CSV/TSV/JSONL input"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    threads: Optional[int] = typer.Option(None, help="torch threads"),
):
    """Embed every text of a file (mean pooling, normalised), optionally with token reduction; an interrupted
    run started again with the same options resumes where it stopped."""
    from .. import checks
    from ..data.batching import check_max_length
    from .options import set_threads as _set_threads
    from ..embeddings import files
    from ..embeddings.encode import METHODS, config_for, load_encoder
    from ..embeddings.pooling import RULES

    _set_threads(threads)
    checks.at_least(batch_size, 1, "batch-size")
    checks.at_least(speedup, 1, "speedup")
    if pooling not in RULES or method not in METHODS:
        raise LeanbertError(f"--pooling {pooling} --method {method}: choose the pooling from {', '.join(RULES)} and "
                            f"the method from {', '.join(METHODS)}")
    files.check_output(output)
    texts = files.read_texts(input, text_col)
    if not texts:
        raise LeanbertError(f"{input}: no texts to embed")
    net, tokenizer, default_length = load_encoder(model)
    length = check_max_length(tokenizer, net.config, default_length if max_length is None else max_length)
    config = config_for(net, method, speedup, n0=length, start_layer=start_layer)  # ConfigError: one line
    settings = {"model": str(model), "config": None if config is None else config.to_dict(), "pooling": pooling,
                "max_length": length}
    summary = _run(net, tokenizer, texts, config, files.ChunkStore(output, files.fingerprint(texts, settings)),
                   dict(batch_size=batch_size, max_length=length, rule=pooling), progress)
    typer.echo(json.dumps({"output": str(output), **summary}))


def _run(net, tokenizer, texts, config, store, options: dict, progress: bool) -> dict:
    """Embed the chunks not yet stored, then assemble the output."""
    from tqdm.auto import tqdm

    from ..embeddings.encode import embed as embed_texts
    from ..embeddings.encode import tokenize
    from ..embeddings.files import CHUNK

    chunks = range(0, len(texts), CHUNK)
    resumed = sum(min(CHUNK, len(texts) - start) for i, start in enumerate(chunks) if store.done(i))
    truncated = 0
    with tqdm(total=len(texts), initial=resumed, disable=not progress, unit="text") as bar:
        for i, start in enumerate(chunks):
            part = texts[start:start + CHUNK]
            truncated += tokenize(tokenizer, part, options["max_length"])[1]
            if not store.done(i):
                store.write(i, embed_texts(net, tokenizer, part, config, progress=bar.update, **options))
    store.assemble(len(chunks), len(texts), net.config.hidden_size)
    return {"texts": len(texts), "resumed": resumed, "truncated": truncated, "dim": net.config.hidden_size}


def embed_distill(
    model: str = typer.Argument("default", help="the encoder to distil (default: all-MiniLM-L6-v2)"),
    output: Path = typer.Option(..., "--output", "-o", help="new directory for the distilled encoder"),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="unlabelled texts: one per line, or "
                                                                     ".csv/.tsv/.jsonl with --text-col"),
    task: Optional[str] = typer.Option(None, help="instead of --input: a GLUE task's training texts (labels unused)"),
    data_dir: Optional[str] = typer.Option(None, help="glue_data directory (with --task)"),
    text_col: str = typer.Option("text", help="the text column of a CSV/TSV/JSONL input"),
    max_texts: Optional[int] = typer.Option(None, help="a seeded sample of this many texts"),
    method: str = typer.Option("tome", help="the reduction trained for: tome (merging), power or acc (dropping)"),
    speedup_range: str = typer.Option("1.25,4", help="lo,hi: the speedups one checkpoint is trained to serve"),
    n_random: int = typer.Option(2, help="random budgets per step besides the smallest"),
    full_weight: float = typer.Option(1.0, help="weight of the full-length model's loss (0: not trained)"),
    pooling: str = typer.Option("exit", help="exit or survivors (as embed's)"),
    epochs: float = typer.Option(1.0), lr: float = typer.Option(2e-5), batch_size: int = typer.Option(32),
    max_length: Optional[int] = typer.Option(None, help="tokens per text (default: the model's setting)"),
    seed: int = typer.Option(42),
    progress: bool = typer.Option(True, help="show a progress bar"),
    threads: Optional[int] = typer.Option(None, help="torch threads"),
):
    """Self-distil an embedding encoder on unlabelled text so that its reduced embeddings (any speedup of the
    range, `leanbert embed OUTPUT --method M --speedup s`) stay close to the dense model's."""
    import random

    from .. import checks
    from ..embeddings.distill import DistillRecipe, distill
    from .options import set_threads as _set_threads

    _set_threads(threads)
    recipe = DistillRecipe(method=method, speedup_range=tuple(checks.numbers(speedup_range, "speedup-range")),
                           n_random=n_random, full_weight=full_weight, rule=pooling, epochs=epochs, lr=lr,
                           batch_size=batch_size, seed=seed)
    texts, source = _distill_texts(input, task, data_dir, text_col)
    if max_texts is not None:
        checks.at_least(max_texts, 2, "max-texts")
        texts = random.Random(seed).sample(texts, min(max_texts, len(texts)))
        source["max_texts"] = max_texts
    summary = distill(model, texts, output, recipe, max_length, progress, source)
    typer.echo(json.dumps({"output": str(output), **summary}))


def _distill_texts(input: Optional[Path], task: Optional[str], data_dir: Optional[str],
                   text_col: str) -> tuple[list[str], dict]:
    """(texts, where they came from): --input's, or every distinct text of a task's training split (both sides of
    a pair; labels unused)."""
    if (input is None) == (task is None):
        raise LeanbertError("give one of --input FILE or --task TASK")
    if input is not None:
        from ..embeddings import files

        if data_dir is not None:
            raise LeanbertError("--data-dir goes with --task, not --input")
        return files.read_texts(input, text_col), {"input": str(input), "text_col": text_col}
    from ..data.datasets import load_task
    from ..data.tasks import ALIASES, task_names

    if ALIASES.get(task.lower(), task.lower()) not in task_names():
        raise LeanbertError(f"--task {task}: not one of {', '.join(task_names())}")
    examples = load_task(task, data_dir, splits=("train",)).split("train")
    texts = [t for e in examples for t in (e.text_a, e.text_b) if t]
    return list(dict.fromkeys(texts)), {"task": task, "split": "train"}  # distinct, first-seen order
