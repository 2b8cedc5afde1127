"""`leanbert evaluate` and `leanbert bench`: result rows and latency rows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import checks, progress
from ..errors import LeanbertError
import uuid
from .app import app
from .options import (BENCH_OPTIONS, FILE_OPTIONS, RUNTIME_OPTIONS, bench_timing, check_output_file, runtime_of, set_threads,
                      user_files)


@app.command()
def evaluate(
    checkpoint: str = typer.Option(..., help="a fine-tuned model directory"),
    task: str = typer.Option("custom", help="a named task, or custom with --dev-file/--test-file"),
    split: str = typer.Option("dev", help="dev, or test for bbc"),
    dev_file: Optional[str] = FILE_OPTIONS["dev_file"], test_file: Optional[str] = FILE_OPTIONS["test_file"],
    text_col: str = FILE_OPTIONS["text_col"], text_pair_col: Optional[str] = FILE_OPTIONS["text_pair_col"],
    label_col: str = FILE_OPTIONS["label_col"], regression: bool = FILE_OPTIONS["regression"],
    data_dir: Optional[str] = None,
    method: str = typer.Option("dense", help="dense, acc, power, tome, sparse, or saved (the config saved with the checkpoint)"),
    speedup: str = typer.Option("", help="ACC/PoWER: comma-separated target speedups, e.g. 1,1.5,2,3,4,5"),
    keep_counts: str = typer.Option("", help="PoWER: tokens kept after each layer, e.g. 40,30,20,15,10,8"),
    max_length: Optional[int] = None,
    dense_score: Optional[float] = typer.Option(None, help="score of the dense model on this split, for the row"),
    score: str = typer.Option("acc", help="ACC score: acc or value_norm"),
    variant: str = typer.Option("", help="free-form label stored in each row's 'variant' field"),
    width: int = typer.Option(0, help="sparse: neighbour width (with acc/power/tome: a pattern composed with the reduction)"),
    n_random: int = typer.Option(0, "--random", help="sparse: random keys per query"),
    global_cls: bool = typer.Option(True, help="sparse: [CLS] attends and is attended everywhere"),
    lexical_top: int = typer.Option(0, help="sparse: most similar tokens per query"),
    syntax_hops: int = typer.Option(0, help="sparse: word pieces within this many dependency-parse edges "
                                           "(needs leanbert[syntax]; not composable with reduction)"),
    from_layers: str = typer.Option("0", help="sparse: comma-separated first patterned layers, one row each"),
    profiles: str = typer.Option("searched", help="acc on an elastic checkpoint: its searched profiles, or geometric"),
    results: Optional[Path] = typer.Option(None, help="append JSON lines here", callback=check_output_file),
    bench: bool = typer.Option(False, help="also measure speedups against both dense baselines"),
    bench_batch_sizes: str = BENCH_OPTIONS["bench_batch_sizes"], bench_examples: str = BENCH_OPTIONS["bench_examples"],
    min_run_time: float = BENCH_OPTIONS["min_run_time"], rounds: str = BENCH_OPTIONS["rounds"],
    warm_allocator: bool = BENCH_OPTIONS["warm_allocator"], threads: Optional[int] = None,
    runtime: str = RUNTIME_OPTIONS["runtime"], precision: str = RUNTIME_OPTIONS["precision"],
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars (off anyway when stderr is not a terminal)"),
):
    """Evaluate a checkpoint; with --speedup, one row per target speedup on the same checkpoint."""
    from ..report.results import append
    from ..measure.runner import iter_rows, make_bench

    set_threads(threads)
    progress.set_quiet(quiet)
    rt = runtime_of(runtime, precision)
    timing = bench_timing(bench_batch_sizes, bench_examples, min_run_time, rounds, warm_allocator) if bench else None
    user = user_files(None, dev_file, test_file, text_col, text_pair_col, label_col, regression, max_length)
    if user is None and task == "custom":
        raise LeanbertError("give --task NAME, or your own data with --dev-file or --test-file")
    speedups, counts = checks.numbers(speedup, "speedup", unique=True), checks.numbers(keep_counts, "keep-counts", int)
    pattern = dict(width=width, n_random=n_random, global_cls=global_cls, lexical_top=lexical_top, syntax_hops=syntax_hops,
                   from_layers=checks.numbers(from_layers, "from-layers", int, unique=True))
    make = make_bench if rt is None else rt.bench  # a runtime is timed against dense fp32 PyTorch only
    speed = make(checkpoint, task, split, data_dir, max_length, timing, user) if bench else None
    for row in iter_rows(checkpoint, task, split, data_dir, method, speedups, counts, max_length, dense_score, speed,
                         score, pattern, user, profiles=profiles, runtime=rt):  # each row saved as measured: Ctrl-C keeps them
        row["variant"] = variant or row["variant"]
        typer.echo(json.dumps(row))
        if results:
            append(results, row)


@app.command()
def bench(
    checkpoint: str = typer.Option(..., help="a model directory"),
    task: str = typer.Option(..., help="whose dev (bbc: test) text is timed"),
    split: str = "dev", data_dir: Optional[str] = None,
    method: str = typer.Option("acc", help="acc, power, or saved"),
    speedup: str = typer.Option("2,3", help="target speedups (acc/power)"),
    max_length: Optional[int] = None,
    batch_sizes: str = typer.Option("1,32"), examples: str = typer.Option("32,128", help="examples timed per batch size"),
    min_run_time: float = BENCH_OPTIONS["min_run_time"], rounds: str = BENCH_OPTIONS["rounds"],
    warm_allocator: bool = BENCH_OPTIONS["warm_allocator"],
    repeats: int = typer.Option(1, help="measure everything this many times (spread)"),
    results: Optional[Path] = typer.Option(None, help="append JSON lines here", callback=check_output_file),
    threads: Optional[int] = None,
    runtime: str = RUNTIME_OPTIONS["runtime"], precision: str = RUNTIME_OPTIONS["precision"],
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars (off anyway when stderr is not a terminal)"),
):
    """Latency only: a method against both dense baselines on real text, threads pinned, environment recorded
    (another --runtime or --precision: against dense fp32 PyTorch with dynamic padding)."""
    from ..report.results import append, versions
    from ..measure.configs import configs_for
    from ..measure.runner import make_bench

    set_threads(threads)
    progress.set_quiet(quiet)
    import torch

    timing, rt = bench_timing(batch_sizes, examples, min_run_time, rounds, warm_allocator), runtime_of(runtime, precision)
    run_id = uuid.uuid4().hex[:12]  # tells this process's repeats from another run's in one results file
    for repeat in range(repeats):
        speed = (make_bench if rt is None else rt.bench)(checkpoint, task, split, data_dir, max_length, timing)
        targets = checks.numbers(speedup, "speedup", unique=True)
        configs = configs_for(method, targets, [], speed.model.config, speed.max_length)
        for target, cfg in progress.bar(configs, desc=f"bench (repeat {repeat + 1} of {repeats})", unit="config"):
            timed = speed.speedups(cfg) if rt is None else rt.time(speed, cfg)
            row = {"checkpoint": checkpoint, "task": task, "split": split, "method": cfg.method if cfg else "dense",
                   "target_speedup": target, "config": cfg.to_dict() if cfg else {}, "run_id": run_id, "repeat": repeat, **timed,
                   "threads": torch.get_num_threads(), "versions": versions()}
            typer.echo(json.dumps(row))
            if results:
                append(results, row)
