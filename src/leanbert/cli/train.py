"""`leanbert finetune`, `power-bert`, `fca`: dense fine-tuning (and ACC offline tuning), and the PoWER-BERT / FCA pipelines."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError
from .app import app
from .options import DENSE_STAGE, FILE_OPTIONS, PIPELINE_OPTIONS, check_output_dir, set_threads, user_files


@app.command()
def finetune(
    task: str = typer.Option("custom", help="GLUE task (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli), bbc, "
                                             "or custom with --train-file/--dev-file"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="where best/ checkpoint and train_log.json go",
                                    callback=check_output_dir),
    train_file: Optional[str] = FILE_OPTIONS["train_file"], dev_file: Optional[str] = FILE_OPTIONS["dev_file"],
    text_col: str = FILE_OPTIONS["text_col"], text_pair_col: Optional[str] = FILE_OPTIONS["text_pair_col"],
    label_col: str = FILE_OPTIONS["label_col"], regression: bool = FILE_OPTIONS["regression"],
    model: Optional[str] = typer.Option(None, help="local Hugging Face BERT directory (default: all-MiniLM-L6-v2)"),
    data_dir: Optional[str] = typer.Option(None, help="glue_data directory (or LEANBERT_GLUE_DIR)"),
    epochs: float = 3.0, batch_size: int = 32, lr: float = 5e-5, seed: int = 42,
    max_length: Optional[int] = typer.Option(None, help="default: the task's length"),
    max_train_examples: Optional[int] = typer.Option(None, help="subsample the training set (seeded)"),
    hold_out_search_slice: bool = typer.Option(False, help="train without the search slice (10%%, <= 500, seeded) "
                                               "that elastic and LAT searches score on, so even this model never "
                                               "sees it (a teacher for a clean held-out search)"),
    method: str = typer.Option("dense", help="dense, or acc for offline tuning over --speedup-range"),
    speedup_range: str = typer.Option("1,5", help="ACC offline tuning: lo,hi target speedups sampled per batch"),
    acc_score: str = typer.Option("acc", help="ACC score: acc or value_norm"),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's choice)"),
):
    """Fine-tune a backbone on a task; keeps the best dev checkpoint in OUTPUT_DIR/best."""
    from ..engine import registry
    from ..measure.configs import DENSE
    from ..training.train import FinetuneArgs, finetune as run

    set_threads(threads)
    if method != DENSE and not registry.has(method, "adjustable"):
        tunable = [name for name, spec in sorted(registry.specs().items()) if spec.adjustable]
        raise LeanbertError(f"--method must be dense or {' or '.join(tunable)} for finetune, got {method!r}")
    user = user_files(train_file, dev_file, None, text_col, text_pair_col, label_col, regression, max_length)
    if user is None and task == "custom":
        raise LeanbertError("give --task NAME, or your own data with --train-file and --dev-file")
    speeds = checks.numbers(speedup_range, "speedup-range") if method != DENSE else None
    if speeds is not None and len(speeds) != 2:
        raise LeanbertError("--speedup-range needs two numbers: lo,hi")
    log = run(FinetuneArgs(task=task, output_dir=str(output_dir), model=model, data_dir=data_dir, epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                           max_train_examples=max_train_examples, acc_speedups=tuple(speeds) if speeds else None,
                           acc_score=acc_score, user=user, search_slice=hold_out_search_slice))
    typer.echo(json.dumps({"task": task, "best_score": log["best_score"], "best_epoch": log.get("best_epoch"),
                           "checkpoint": str(output_dir / "best")}))


def _reduction_pipeline(task, dense, output_dir, data_dir, retention_lambda, lr_soft, epochs, batch_size, lr, seed,
                        max_length, max_train_examples, threads, coarse, merge, divide_by_count, model=None,
                        dense_epochs=3.0, dense_lr=5e-5):
    from dataclasses import replace

    from ..methods.power.pipeline import reduction_defaults, reduction_pipeline
    from ..training.train import FinetuneArgs, finetune

    set_threads(threads)
    retention_lambda, lr_soft, batch_size = reduction_defaults(task, retention_lambda, lr_soft, batch_size)
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    if dense is None:  # stage 1 of 3: fine-tune the dense model first (resumable, skipped once done)
        if not dense_epochs > 0 or not dense_lr > 0:
            raise LeanbertError("--dense-epochs and --dense-lr must be > 0 when --dense is not given")
        finetune(replace(base, output_dir=str(output_dir / "dense"), model=model, epochs=dense_epochs, lr=dense_lr))
        base = replace(base, model=str(output_dir / "dense" / "best"))
    typer.echo(json.dumps(reduction_pipeline(base, retention_lambda, lr_soft, coarse, merge, divide_by_count)))


@app.command("power-bert")
def power_bert(
    task: str = PIPELINE_OPTIONS["task"], dense: Optional[str] = DENSE_STAGE["dense"],
    model: Optional[str] = DENSE_STAGE["model"], dense_epochs: float = DENSE_STAGE["dense_epochs"],
    dense_lr: float = DENSE_STAGE["dense_lr"],
    output_dir: Path = PIPELINE_OPTIONS["output_dir"], data_dir: Optional[str] = None,
    retention_lambda: Optional[float] = PIPELINE_OPTIONS["retention_lambda"],
    lr_soft: Optional[float] = PIPELINE_OPTIONS["lr_soft"],
    epochs: float = 1.0, batch_size: Optional[int] = typer.Option(None, help="default: per task"), lr: float = 3e-5,
    seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = PIPELINE_OPTIONS["max_train_examples"],
):
    """PoWER-BERT: retention-configuration search (soft extraction), then re-training with hard extraction."""
    _reduction_pipeline(task, dense, output_dir, data_dir, retention_lambda, lr_soft, epochs, batch_size, lr, seed,
                        max_length, max_train_examples, threads, 0, "mean", False, model, dense_epochs, dense_lr)


@app.command()
def fca(
    task: str = PIPELINE_OPTIONS["task"], dense: Optional[str] = DENSE_STAGE["dense"],
    model: Optional[str] = DENSE_STAGE["model"], dense_epochs: float = DENSE_STAGE["dense_epochs"],
    dense_lr: float = DENSE_STAGE["dense_lr"],
    output_dir: Path = PIPELINE_OPTIONS["output_dir"], data_dir: Optional[str] = None,
    retention_lambda: Optional[float] = PIPELINE_OPTIONS["retention_lambda"],
    lr_soft: Optional[float] = PIPELINE_OPTIONS["lr_soft"],
    coarse: int = typer.Option(1, help="coarse tokens per layer (0 = PoWER-BERT)"),
    merge: str = typer.Option("weighted", help="mean or weighted (score softmax within a chunk)"),
    divide_by_count: bool = typer.Option(False, help="the reference code's extra 1/|chunk| factor"),
    epochs: float = 1.0, batch_size: Optional[int] = typer.Option(None, help="default: per task"), lr: float = 3e-5,
    seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = PIPELINE_OPTIONS["max_train_examples"],
):
    """FCA: the PoWER-BERT search (shared with power-bert in the same folder), then re-training with
    fine tokens kept and the rest merged into coarse tokens."""
    _reduction_pipeline(task, dense, output_dir, data_dir, retention_lambda, lr_soft, epochs, batch_size, lr, seed,
                        max_length, max_train_examples, threads, coarse, merge, divide_by_count, model, dense_epochs,
                        dense_lr)
