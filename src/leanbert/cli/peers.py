"""`leanbert ltp`, `learn-band`, `lat`: the learned peers, each a soft stage then a hard one."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError
from .app import app
from .options import BENCH_OPTIONS, PIPELINE_OPTIONS, check_output_dir, check_output_file, set_threads, bench_timing


@app.command()
def ltp(
    task: str = PIPELINE_OPTIONS["task"], dense: str = PIPELINE_OPTIONS["dense"],
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="ltp-soft/ and ltp/ go here",
                                    callback=check_output_dir),
    data_dir: Optional[str] = None,
    ltp_lambda: float = typer.Option(0.2, "--lambda", help="penalty on the mean soft fraction of tokens kept"),
    lr_soft: float = typer.Option(1e-2, help="learning rate of the thresholds"),
    temperature: float = typer.Option(0.1, help="soft mask temperature (importance units: 1.0 = an average token)"),
    epochs: float = 1.0, batch_size: int = 32, lr: float = 3e-5, seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = PIPELINE_OPTIONS["max_train_examples"],
):
    """LTP peer: learn per-layer thresholds (soft stage), then fine-tune with hard threshold pruning."""
    from ..methods.ltp.pipeline import ltp_pipeline
    from ..training.train import FinetuneArgs

    set_threads(threads)
    if not temperature > 0 or not ltp_lambda >= 0:
        raise LeanbertError("--temperature must be > 0 and --lambda >= 0")
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    typer.echo(json.dumps(ltp_pipeline(base, ltp_lambda, lr_soft, temperature)))


@app.command("learn-band")
def learn_band(
    task: str = PIPELINE_OPTIONS["task"], dense: str = PIPELINE_OPTIONS["dense"],
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="band-soft/ and band/ go here",
                                    callback=check_output_dir),
    data_dir: Optional[str] = None,
    band_lambda: float = typer.Option(0.5, "--lambda", help="penalty on the expected attention density"),
    lr_soft: float = typer.Option(0.3, help="learning rate of the widths (positions per step, roughly)"),
    init_width: float = typer.Option(16.0, help="every head's width at the start"),
    from_layer: int = typer.Option(0, help="learn bands for this layer upward (earlier layers stay dense)"),
    temperature: str = typer.Option("4,0.5", help="soft band temperature, annealed from the first to the second"),
    epochs: float = 1.0, batch_size: int = 32, lr: float = 3e-5, seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = PIPELINE_OPTIONS["max_train_examples"],
):
    """Learned neighbour degrees: learn a band width per layer and head (soft band, density penalty, annealed
    temperature), then fine-tune with the hard bands. --lambda moves along the accuracy/sparsity curve."""
    from ..methods.sparse.pipeline import learned_band_pipeline
    from ..training.train import FinetuneArgs

    set_threads(threads)
    temps = checks.numbers(temperature, "temperature")
    if len(temps) != 2 or not all(t > 0 for t in temps) or not band_lambda >= 0 or not init_width >= 0:
        raise LeanbertError("--temperature needs two numbers > 0 (start,end); --lambda and --init-width must be >= 0")
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    typer.echo(json.dumps(learned_band_pipeline(base, band_lambda, lr_soft, init_width, from_layer, tuple(temps))))


@app.command()
def lat(
    task: str = PIPELINE_OPTIONS["task"], dense: str = PIPELINE_OPTIONS["dense"],
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="lengthdrop/ and search.json go here",
                                    callback=check_output_dir),
    data_dir: Optional[str] = None,
    max_drop: float = typer.Option(0.2, help="LengthDrop: each layer drops a fraction drawn from U(0, max-drop)"),
    n_random: int = typer.Option(2, help="random sub-models per step (sandwich rule: + the full and the smallest)"),
    speedup: str = typer.Option("1.5,2,3", help="target FLOPs reductions (padded to the task length) to pick configs for"),
    population: int = 16, generations: int = 8,
    search_on: str = typer.Option("held-out", help="held-out: LengthDrop trains without the training data's search "
                                  "slice and the search scores on it; dev: the published recipe, scoring on dev examples "
                                  "(rows variant lat-dev-search: picked on the split they report)"),
    search_examples: Optional[int] = typer.Option(None, help="cap on the examples the search scores candidates on "
                                                  "(seeded sample; default: the whole held-out slice, 200 on dev)"),
    epochs: float = 1.0, batch_size: int = 32, lr: float = 3e-5, seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = PIPELINE_OPTIONS["max_train_examples"],
    results: Optional[Path] = typer.Option(None, help="append one row per chosen config here (full dev split)",
                                             callback=check_output_file),
    bench: bool = typer.Option(False, help="with --results: also measure speed against both dense baselines"),
    bench_batch_sizes: str = BENCH_OPTIONS["bench_batch_sizes"], bench_examples: str = BENCH_OPTIONS["bench_examples"],
    min_run_time: float = BENCH_OPTIONS["min_run_time"], rounds: str = BENCH_OPTIONS["rounds"],
    warm_allocator: bool = BENCH_OPTIONS["warm_allocator"],
):
    """LAT peer: LengthDrop fine-tuning (sandwich rule, in-place distillation), then an evolutionary search of
    per-layer lengths; one config per target FLOPs reduction, evaluated on the full dev split."""
    from ..measure.runner import make_bench
    from ..methods.lat.pipeline import lat_pipeline, lat_rows
    from ..report.results import append
    from ..training.recipes import eval_split
    from ..training.train import FinetuneArgs

    set_threads(threads)
    targets = _lat_targets(speedup, search_on, population, generations, n_random, search_examples)
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    # checked before hours of training
    timing = bench_timing(bench_batch_sizes, bench_examples, min_run_time, rounds, warm_allocator) if bench else None
    summary = lat_pipeline(base, max_drop, n_random, targets, population, generations, search_examples, search_on)
    split = eval_split(task)
    speed = make_bench(summary["checkpoint"], task, split, data_dir, max_length, timing) if bench else None
    for row in lat_rows(summary, dense, task, split, data_dir, max_length, speed):
        if results:
            append(results, row)
        typer.echo(json.dumps({k: row.get(k) for k in ("target_speedup", "score", "dense_score", "gflops", "speedup_dynamic")}))


def _lat_targets(speedup: str, search_on: str, population: int, generations: int, n_random: int,
                 search_examples: Optional[int]) -> list[float]:
    """The target speedups, once every search option is checked (before hours of training)."""
    from ..methods.lat.pipeline import SEARCH_ON

    targets = checks.numbers(speedup, "speedup", unique=True)
    if search_on not in SEARCH_ON:
        raise LeanbertError(f"--search-on must be one of {', '.join(SEARCH_ON)}, got {search_on!r}")
    if (not targets or min(targets) < 1 or population < 2 or generations < 1 or n_random < 0
            or (search_examples is not None and search_examples < 1)):
        raise LeanbertError("--speedup needs values >= 1; --population >= 2, --generations >= 1, --n-random >= 0, "
                            "--search-examples >= 1")
    return targets
