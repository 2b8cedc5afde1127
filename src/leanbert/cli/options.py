"""Options and checks the command groups share: user data files, timing, output paths, threads."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError

def user_files(train_file, dev_file, test_file, text_col, text_pair_col, label_col, regression, max_length):
    """The user's own data when any --*-file is given, else None (a named task)."""
    files = {k: v for k, v in (("train", train_file), ("dev", dev_file), ("test", test_file)) if v}
    if not files:
        return None
    from ..data.datasets import UserFiles

    return UserFiles(files, text_col, label_col, text_pair_col, regression, max_length or 128)


FILE_OPTIONS = dict(
    train_file=typer.Option(None, help="your own CSV/TSV/JSONL training file (instead of a named task)"),
    dev_file=typer.Option(None, help="your own dev file"), test_file=typer.Option(None, help="your own test file"),
    text_col=typer.Option("text", help="column with the text"),
    text_pair_col=typer.Option(None, help="column with a second text"),
    label_col=typer.Option("label", help="column with the label"), regression=typer.Option(False, help="labels are numbers"),
)


BENCH_OPTIONS = dict(
    bench_batch_sizes=typer.Option("1,32", help="batch sizes timed with --bench"),
    bench_examples=typer.Option("32,128", help="examples timed per batch size"),
    min_run_time=typer.Option(1.0, help="seconds of timing per dense/method ratio, split over the rounds"),
    rounds=typer.Option("3", help="alternating dense/method measurements per ratio (the speedup is their median "
                                  "ratio): one count, or one per timed batch size, e.g. 25,7"),
    warm_allocator=typer.Option(True, "--warm-allocator/--default-allocator",
                                help="keep freed memory in the heap while timing (no per-pass page faults; recorded in rows)"),
)


RUNTIME_OPTIONS = dict(
    runtime=typer.Option("torch", help="torch, onnxruntime (an exported graph per profile) or onnxruntime-fused "
                                       "(+ onnxruntime's transformer fusions)"),
    precision=typer.Option("fp32", help="fp32, int8 or int8-per-channel (dynamic quantisation of the linear layers)"),
)


def runtime_of(runtime: str, precision: str):
    """A deploy.runtimes.measure.Runtime, or None for plain PyTorch fp32 (the path every other option measures)."""
    from ..deploy.runtimes.measure import Runtime

    rt = Runtime(runtime, precision)  # checks both names
    return None if (runtime, precision) == ("torch", "fp32") else rt


def bench_timing(bench_batch_sizes: str, bench_examples: str, min_run_time: float, rounds: str, warm_allocator: bool):
    """The bench options as one bench.Timing, checked before any work."""
    sizes = checks.numbers(bench_batch_sizes, "batch-sizes", int, unique=True)
    counts = checks.numbers(bench_examples, "examples", int)
    if len(sizes) != len(counts) or not sizes or min(sizes + counts) < 1:
        raise LeanbertError("the timed batch sizes and examples per batch size need the same number of entries, "
                            "each >= 1")
    per_size = checks.numbers(rounds, "rounds", int)
    per_size = per_size * len(sizes) if len(per_size) == 1 else per_size
    if len(per_size) != len(sizes) or min(per_size) < 1:
        raise LeanbertError(f"--rounds {rounds}: need one count >= 1, or one per timed batch size ({len(sizes)})")
    if min_run_time <= 0:
        raise LeanbertError(f"--min-run-time {min_run_time}: need a positive number of seconds")
    from ..measure.bench import Timing

    return Timing(dict(zip(sizes, counts)), min_run_time, dict(zip(sizes, per_size)), warm_allocator)


def check_output_file(param: typer.CallbackParam, value: Optional[Path]):
    """Option callback: an output file is checked while the options are parsed, before any work. The
    value stays as given (rows and resumable studies record paths as the user wrote them)."""
    if value is not None:
        checks.writable_file(value, param.opts[0])
    return value


def check_output_dir(param: typer.CallbackParam, value: Optional[Path]):
    if value is not None:
        checks.writable_dir(value, param.opts[0])
    return value


DENSE_STAGE = dict(
    dense=typer.Option(None, help="the fine-tuned dense checkpoint; omitted: the dense model is fine-tuned first "
                                  "into OUTPUT/dense (all three stages in one command)"),
    model=typer.Option(None, help="with no --dense: the backbone to fine-tune (default: the shipped one)"),
    dense_epochs=typer.Option(3.0, help="with no --dense: epochs of dense fine-tuning"),
    dense_lr=typer.Option(5e-5, help="with no --dense: learning rate of the dense fine-tuning"),
)


PIPELINE_OPTIONS = dict(
    task=typer.Option(...), dense=typer.Option(..., help="the fine-tuned dense checkpoint to start from"),
    output_dir=typer.Option(..., "--output-dir", "-o", help="search/ and one folder per variant go here",
                            callback=check_output_dir),
    retention_lambda=typer.Option(None, "--lambda", help="penalty on kept tokens, times layer index "
                                                          "(default: per task, recipes.RECIPES)"),
    lr_soft=typer.Option(None, help="learning rate of the retention weights (default: per task)"),
    max_train_examples=typer.Option(None, help="subsample the training set (seeded, the same subset every stage)"),
)


def set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        if threads < 1:
            raise LeanbertError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
