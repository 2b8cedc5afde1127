"""The `leanbert` command line. Errors in the user's input print as one line, no traceback."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Cheaper BERT encoders: token reduction and sparse attention, measured honestly.")


def _user_files(train_file, dev_file, test_file, text_col, text_pair_col, label_col, regression, max_length):
    """The user's own data when any --*-file is given, else None (a named task)."""
    files = {k: v for k, v in (("train", train_file), ("dev", dev_file), ("test", test_file)) if v}
    if not files:
        return None
    from ..data.datasets import UserFiles

    return UserFiles(files, text_col, label_col, text_pair_col, regression, max_length or 128)


_FILE_OPTIONS = dict(
    train_file=typer.Option(None, help="your own CSV/TSV/JSONL training file (instead of a named task)"),
    dev_file=typer.Option(None, help="your own dev file"), test_file=typer.Option(None, help="your own test file"),
    text_col=typer.Option("text", help="column with the text"),
    text_pair_col=typer.Option(None, help="column with a second text"),
    label_col=typer.Option("label", help="column with the label"), regression=typer.Option(False, help="labels are numbers"),
)


_BENCH_OPTIONS = dict(
    bench_batch_sizes=typer.Option("1,32", help="batch sizes timed with --bench"),
    bench_examples=typer.Option("32,128", help="examples timed per batch size"),
    min_run_time=typer.Option(1.0, help="seconds of timing per dense/method ratio, split over the rounds"),
    rounds=typer.Option("3", help="alternating dense/method measurements per ratio (the speedup is their median "
                                  "ratio): one count, or one per timed batch size, e.g. 25,7"),
    warm_allocator=typer.Option(True, "--warm-allocator/--default-allocator",
                                help="keep freed memory in the heap while timing (no per-pass page faults; recorded in rows)"),
)


def _timing(bench_batch_sizes: str, bench_examples: str, min_run_time: float, rounds: str, warm_allocator: bool):
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


def _output_file(param: typer.CallbackParam, value: Optional[Path]):
    """Option callback: an output file is checked while the options are parsed, before any work. The
    value stays as given (rows and resumable studies record paths as the user wrote them)."""
    if value is not None:
        checks.writable_file(value, param.opts[0])
    return value


def _output_dir(param: typer.CallbackParam, value: Optional[Path]):
    if value is not None:
        checks.writable_dir(value, param.opts[0])
    return value


@app.command()
def finetune(
    task: str = typer.Option("custom", help="GLUE task (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli), bbc, "
                                             "or custom with --train-file/--dev-file"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="where best/ checkpoint and train_log.json go",
                                    callback=_output_dir),
    train_file: Optional[str] = _FILE_OPTIONS["train_file"], dev_file: Optional[str] = _FILE_OPTIONS["dev_file"],
    text_col: str = _FILE_OPTIONS["text_col"], text_pair_col: Optional[str] = _FILE_OPTIONS["text_pair_col"],
    label_col: str = _FILE_OPTIONS["label_col"], regression: bool = _FILE_OPTIONS["regression"],
    model: Optional[str] = typer.Option(None, help="local Hugging Face BERT directory (default: all-MiniLM-L6-v2)"),
    data_dir: Optional[str] = typer.Option(None, help="glue_data directory (or LEANBERT_GLUE_DIR)"),
    epochs: float = 3.0, batch_size: int = 32, lr: float = 5e-5, seed: int = 42,
    max_length: Optional[int] = typer.Option(None, help="default: the task's length"),
    max_train_examples: Optional[int] = typer.Option(None, help="subsample the training set (seeded)"),
    method: str = typer.Option("dense", help="dense, or acc for offline tuning over --speedup-range"),
    speedup_range: str = typer.Option("1,5", help="ACC offline tuning: lo,hi target speedups sampled per batch"),
    acc_score: str = typer.Option("acc", help="ACC score: acc or value_norm"),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's choice)"),
):
    """Fine-tune a backbone on a task; keeps the best dev checkpoint in OUTPUT_DIR/best."""
    from ..training.train import FinetuneArgs, finetune as run

    _set_threads(threads)
    if method not in ("dense", "acc"):
        raise LeanbertError(f"--method must be dense or acc for finetune, got {method!r}")
    user = _user_files(train_file, dev_file, None, text_col, text_pair_col, label_col, regression, max_length)
    if user is None and task == "custom":
        raise LeanbertError("give --task NAME, or your own data with --train-file and --dev-file")
    speeds = checks.numbers(speedup_range, "speedup-range") if method == "acc" else None
    if speeds is not None and len(speeds) != 2:
        raise LeanbertError("--speedup-range needs two numbers: lo,hi")
    log = run(FinetuneArgs(task=task, output_dir=str(output_dir), model=model, data_dir=data_dir, epochs=epochs,
                           batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                           max_train_examples=max_train_examples, acc_speedups=tuple(speeds) if speeds else None,
                           acc_score=acc_score, user=user))
    typer.echo(json.dumps({"task": task, "best_score": log["best_score"], "best_epoch": log.get("best_epoch"),
                           "checkpoint": str(output_dir / "best")}))


def _reduction_pipeline(task, dense, output_dir, data_dir, retention_lambda, lr_soft, epochs, batch_size, lr, seed,
                        max_length, max_train_examples, threads, coarse, merge, divide_by_count, model=None,
                        dense_epochs=3.0, dense_lr=5e-5):
    from dataclasses import replace

    from ..methods.power.pipeline import reduction_defaults, reduction_pipeline
    from ..training.train import FinetuneArgs, finetune

    _set_threads(threads)
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


_DENSE_STAGE = dict(
    dense=typer.Option(None, help="the fine-tuned dense checkpoint; omitted: the dense model is fine-tuned first "
                                  "into OUTPUT/dense (all three stages in one command)"),
    model=typer.Option(None, help="with no --dense: the backbone to fine-tune (default: the shipped one)"),
    dense_epochs=typer.Option(3.0, help="with no --dense: epochs of dense fine-tuning"),
    dense_lr=typer.Option(5e-5, help="with no --dense: learning rate of the dense fine-tuning"),
)


_PIPELINE_OPTIONS = dict(
    task=typer.Option(...), dense=typer.Option(..., help="the fine-tuned dense checkpoint to start from"),
    output_dir=typer.Option(..., "--output-dir", "-o", help="search/ and one folder per variant go here",
                            callback=_output_dir),
    retention_lambda=typer.Option(None, "--lambda", help="penalty on kept tokens, times layer index "
                                                          "(default: per task, recipes.RECIPES)"),
    lr_soft=typer.Option(None, help="learning rate of the retention weights (default: per task)"),
    max_train_examples=typer.Option(None, help="subsample the training set (seeded, the same subset every stage)"),
)


@app.command("power-bert")
def power_bert(
    task: str = _PIPELINE_OPTIONS["task"], dense: Optional[str] = _DENSE_STAGE["dense"],
    model: Optional[str] = _DENSE_STAGE["model"], dense_epochs: float = _DENSE_STAGE["dense_epochs"],
    dense_lr: float = _DENSE_STAGE["dense_lr"],
    output_dir: Path = _PIPELINE_OPTIONS["output_dir"], data_dir: Optional[str] = None,
    retention_lambda: Optional[float] = _PIPELINE_OPTIONS["retention_lambda"],
    lr_soft: Optional[float] = _PIPELINE_OPTIONS["lr_soft"],
    epochs: float = 1.0, batch_size: Optional[int] = typer.Option(None, help="default: per task"), lr: float = 3e-5,
    seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = _PIPELINE_OPTIONS["max_train_examples"],
):
    """PoWER-BERT: retention-configuration search (soft extraction), then re-training with hard extraction."""
    _reduction_pipeline(task, dense, output_dir, data_dir, retention_lambda, lr_soft, epochs, batch_size, lr, seed,
                        max_length, max_train_examples, threads, 0, "mean", False, model, dense_epochs, dense_lr)


@app.command()
def fca(
    task: str = _PIPELINE_OPTIONS["task"], dense: Optional[str] = _DENSE_STAGE["dense"],
    model: Optional[str] = _DENSE_STAGE["model"], dense_epochs: float = _DENSE_STAGE["dense_epochs"],
    dense_lr: float = _DENSE_STAGE["dense_lr"],
    output_dir: Path = _PIPELINE_OPTIONS["output_dir"], data_dir: Optional[str] = None,
    retention_lambda: Optional[float] = _PIPELINE_OPTIONS["retention_lambda"],
    lr_soft: Optional[float] = _PIPELINE_OPTIONS["lr_soft"],
    coarse: int = typer.Option(1, help="coarse tokens per layer (0 = PoWER-BERT)"),
    merge: str = typer.Option("weighted", help="mean or weighted (score softmax within a chunk)"),
    divide_by_count: bool = typer.Option(False, help="the reference code's extra 1/|chunk| factor"),
    epochs: float = 1.0, batch_size: Optional[int] = typer.Option(None, help="default: per task"), lr: float = 3e-5,
    seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = _PIPELINE_OPTIONS["max_train_examples"],
):
    """FCA: the PoWER-BERT search (shared with power-bert in the same folder), then re-training with
    fine tokens kept and the rest merged into coarse tokens."""
    _reduction_pipeline(task, dense, output_dir, data_dir, retention_lambda, lr_soft, epochs, batch_size, lr, seed,
                        max_length, max_train_examples, threads, coarse, merge, divide_by_count, model, dense_epochs,
                        dense_lr)


@app.command()
def ltp(
    task: str = _PIPELINE_OPTIONS["task"], dense: str = _PIPELINE_OPTIONS["dense"],
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="ltp-soft/ and ltp/ go here",
                                    callback=_output_dir),
    data_dir: Optional[str] = None,
    ltp_lambda: float = typer.Option(0.2, "--lambda", help="penalty on the mean soft fraction of tokens kept"),
    lr_soft: float = typer.Option(1e-2, help="learning rate of the thresholds"),
    temperature: float = typer.Option(0.1, help="soft mask temperature (importance units: 1.0 = an average token)"),
    epochs: float = 1.0, batch_size: int = 32, lr: float = 3e-5, seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = _PIPELINE_OPTIONS["max_train_examples"],
):
    """LTP peer: learn per-layer thresholds (soft stage), then fine-tune with hard threshold pruning."""
    from ..methods.power.pipeline import ltp_pipeline
    from ..training.train import FinetuneArgs

    _set_threads(threads)
    if not temperature > 0 or not ltp_lambda >= 0:
        raise LeanbertError("--temperature must be > 0 and --lambda >= 0")
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    typer.echo(json.dumps(ltp_pipeline(base, ltp_lambda, lr_soft, temperature)))


@app.command("learn-band")
def learn_band(
    task: str = _PIPELINE_OPTIONS["task"], dense: str = _PIPELINE_OPTIONS["dense"],
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="band-soft/ and band/ go here",
                                    callback=_output_dir),
    data_dir: Optional[str] = None,
    band_lambda: float = typer.Option(0.5, "--lambda", help="penalty on the expected attention density"),
    lr_soft: float = typer.Option(0.3, help="learning rate of the widths (positions per step, roughly)"),
    init_width: float = typer.Option(16.0, help="every head's width at the start"),
    from_layer: int = typer.Option(0, help="learn bands for this layer upward (earlier layers stay dense)"),
    temperature: str = typer.Option("4,0.5", help="soft band temperature, annealed from the first to the second"),
    epochs: float = 1.0, batch_size: int = 32, lr: float = 3e-5, seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = _PIPELINE_OPTIONS["max_train_examples"],
):
    """Learned neighbour degrees: learn a band width per layer and head (soft band, density penalty, annealed
    temperature), then fine-tune with the hard bands. --lambda moves along the accuracy/sparsity curve."""
    from ..methods.power.pipeline import learned_band_pipeline
    from ..training.train import FinetuneArgs

    _set_threads(threads)
    temps = checks.numbers(temperature, "temperature")
    if len(temps) != 2 or not all(t > 0 for t in temps) or not band_lambda >= 0 or not init_width >= 0:
        raise LeanbertError("--temperature needs two numbers > 0 (start,end); --lambda and --init-width must be >= 0")
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    typer.echo(json.dumps(learned_band_pipeline(base, band_lambda, lr_soft, init_width, from_layer, tuple(temps))))


@app.command()
def lat(
    task: str = _PIPELINE_OPTIONS["task"], dense: str = _PIPELINE_OPTIONS["dense"],
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="lengthdrop/ and search.json go here",
                                    callback=_output_dir),
    data_dir: Optional[str] = None,
    max_drop: float = typer.Option(0.2, help="LengthDrop: each layer drops a fraction drawn from U(0, max-drop)"),
    n_random: int = typer.Option(2, help="random sub-models per step (sandwich rule: + the full and the smallest)"),
    speedup: str = typer.Option("1.5,2,3", help="target FLOPs reductions (padded to the task length) to pick configs for"),
    population: int = 16, generations: int = 8,
    search_examples: int = typer.Option(200, help="dev examples the search scores candidates on (seeded sample)"),
    epochs: float = 1.0, batch_size: int = 32, lr: float = 3e-5, seed: int = 42,
    max_length: Optional[int] = None, threads: Optional[int] = None,
    max_train_examples: Optional[int] = _PIPELINE_OPTIONS["max_train_examples"],
    results: Optional[Path] = typer.Option(None, help="append one row per chosen config here (full dev split)",
                                             callback=_output_file),
    bench: bool = typer.Option(False, help="with --results: also measure speed against both dense baselines"),
    bench_batch_sizes: str = _BENCH_OPTIONS["bench_batch_sizes"], bench_examples: str = _BENCH_OPTIONS["bench_examples"],
    min_run_time: float = _BENCH_OPTIONS["min_run_time"], rounds: str = _BENCH_OPTIONS["rounds"],
    warm_allocator: bool = _BENCH_OPTIONS["warm_allocator"],
):
    """LAT peer: LengthDrop fine-tuning (sandwich rule, in-place distillation), then an evolutionary search of
    per-layer lengths; one config per target FLOPs reduction, evaluated on the full dev split."""
    from ..engine.config import PowerConfig
    from ..methods.power.pipeline import lat_pipeline
    from ..training.recipes import eval_split
    from ..report.results import append
    from ..measure.runner import evaluate_rows, make_bench
    from ..training.train import FinetuneArgs

    _set_threads(threads)
    targets = checks.numbers(speedup, "speedup", unique=True)
    if not targets or min(targets) < 1 or population < 2 or generations < 1 or n_random < 0 or search_examples < 1:
        raise LeanbertError("--speedup needs values >= 1; --population >= 2, --generations >= 1, --n-random >= 0, "
                            "--search-examples >= 1")
    base = FinetuneArgs(task=task, output_dir=str(output_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, max_length=max_length,
                        max_train_examples=max_train_examples)
    # checked before hours of training
    timing = _timing(bench_batch_sizes, bench_examples, min_run_time, rounds, warm_allocator) if bench else None
    summary = lat_pipeline(base, max_drop, n_random, targets, population, generations, search_examples)
    configs = [(c["target_speedup"], PowerConfig(keep_fractions=tuple(c["keep_fractions"])))
               for c in summary["chosen"] if c["keep_fractions"] is not None]
    split = eval_split(task)
    speed = make_bench(summary["checkpoint"], task, split, data_dir, max_length, timing) if bench else None
    dense_score = evaluate_rows(dense, task, split, data_dir, max_length=max_length)[0]["score"]  # the dense baseline's
    for row in evaluate_rows(summary["checkpoint"], task, split, data_dir, configs=configs, bench=speed,
                             max_length=max_length, dense_score=dense_score):
        row.update(variant="lat", method="lat")
        if results:
            append(results, row)
        typer.echo(json.dumps({k: row.get(k) for k in ("target_speedup", "score", "dense_score", "gflops", "speedup_dynamic")}))


@app.command()
def evaluate(
    checkpoint: str = typer.Option(..., help="a fine-tuned model directory"),
    task: str = typer.Option("custom", help="a named task, or custom with --dev-file/--test-file"),
    split: str = typer.Option("dev", help="dev, or test for bbc"),
    dev_file: Optional[str] = _FILE_OPTIONS["dev_file"], test_file: Optional[str] = _FILE_OPTIONS["test_file"],
    text_col: str = _FILE_OPTIONS["text_col"], text_pair_col: Optional[str] = _FILE_OPTIONS["text_pair_col"],
    label_col: str = _FILE_OPTIONS["label_col"], regression: bool = _FILE_OPTIONS["regression"],
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
    results: Optional[Path] = typer.Option(None, help="append JSON lines here", callback=_output_file),
    bench: bool = typer.Option(False, help="also measure speedups against both dense baselines"),
    bench_batch_sizes: str = _BENCH_OPTIONS["bench_batch_sizes"], bench_examples: str = _BENCH_OPTIONS["bench_examples"],
    min_run_time: float = _BENCH_OPTIONS["min_run_time"], rounds: str = _BENCH_OPTIONS["rounds"],
    warm_allocator: bool = _BENCH_OPTIONS["warm_allocator"], threads: Optional[int] = None,
):
    """Evaluate a checkpoint; with --speedup, one row per target speedup on the same checkpoint."""
    from ..report.results import append
    from ..measure.runner import iter_rows, make_bench

    _set_threads(threads)
    timing = _timing(bench_batch_sizes, bench_examples, min_run_time, rounds, warm_allocator) if bench else None
    user = _user_files(None, dev_file, test_file, text_col, text_pair_col, label_col, regression, max_length)
    if user is None and task == "custom":
        raise LeanbertError("give --task NAME, or your own data with --dev-file or --test-file")
    speedups, counts = checks.numbers(speedup, "speedup", unique=True), checks.numbers(keep_counts, "keep-counts", int)
    pattern = dict(width=width, n_random=n_random, global_cls=global_cls, lexical_top=lexical_top, syntax_hops=syntax_hops,
                   from_layers=checks.numbers(from_layers, "from-layers", int, unique=True))
    speed = make_bench(checkpoint, task, split, data_dir, max_length, timing, user) if bench else None
    for row in iter_rows(checkpoint, task, split, data_dir, method, speedups, counts, max_length, dense_score, speed,
                         score, pattern, user, profiles=profiles):  # each row saved as measured: Ctrl-C keeps them
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
    min_run_time: float = _BENCH_OPTIONS["min_run_time"], rounds: str = _BENCH_OPTIONS["rounds"],
    warm_allocator: bool = _BENCH_OPTIONS["warm_allocator"],
    repeats: int = typer.Option(1, help="measure everything this many times (spread)"),
    results: Optional[Path] = typer.Option(None, help="append JSON lines here", callback=_output_file),
    threads: Optional[int] = None,
):
    """Latency only: a method against both dense baselines on real text, threads pinned, environment recorded."""
    from ..report.results import append, versions
    from ..measure.runner import configs_for, make_bench

    _set_threads(threads)
    import torch

    timing = _timing(batch_sizes, examples, min_run_time, rounds, warm_allocator)
    run_id = uuid.uuid4().hex[:12]  # tells this process's repeats from another run's in one results file
    for repeat in range(repeats):
        speed = make_bench(checkpoint, task, split, data_dir, max_length, timing)
        targets = checks.numbers(speedup, "speedup", unique=True)
        for target, cfg in configs_for(method, targets, [], speed.model.config, speed.max_length):
            row = {"checkpoint": checkpoint, "task": task, "split": split, "method": cfg.method, "target_speedup": target,
                   "config": cfg.to_dict(), "run_id": run_id, "repeat": repeat, **speed.speedups(cfg),
                   "threads": torch.get_num_threads(), "versions": versions()}
            typer.echo(json.dumps(row))
            if results:
                append(results, row)


def _config_for_checkpoint(model, method: str, speedup: str, keep_counts: str, profile_length: int):
    """The config a deployment command runs: the checkpoint's saved one, dense, or a profile solved for one
    target speedup at `profile_length` tokens (fractions of the length, so they apply at any length)."""
    from ..engine.api import current_config
    from ..measure.runner import check_options_used, configs_for

    targets, counts = checks.numbers(speedup, "speedup"), checks.numbers(keep_counts, "keep-counts", int)
    if len(targets) > 1:
        raise LeanbertError("--speedup takes one target here")
    check_options_used(method, targets, counts)
    if method == "saved":
        return current_config(model)
    return configs_for(method, targets, counts, model.config, profile_length)[0][1]


@app.command()
def export(
    checkpoint: str = typer.Argument(..., help="a fine-tuned model directory"),
    output: Path = typer.Option(..., "--output", "-o", help="the .onnx file to write (PATH.json records the checks)",
                                callback=_output_file),
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

    _set_threads(threads)
    checks.in_range(port, 1, 65535, "port")  # before the model loads, not as an OverflowError after
    if max_texts < 1 or max_chars < 1:
        raise LeanbertError("--max-texts and --max-chars must be >= 1")
    run(checkpoint, host, port, max_length, Limits(max_texts=max_texts, max_chars=max_chars))


from .elastic import elastic as _elastic_command  # noqa: E402  (its own module: one command, one file)

app.command("elastic")(_elastic_command)
from .backbone import backbone_app  # noqa: E402

app.add_typer(backbone_app, name="backbone")

study_app = typer.Typer(help="Study grids that write JSON lines for `leanbert report`.")
app.add_typer(study_app, name="study")


@study_app.command("sparse")
def study_sparse(
    task: str = typer.Option(...), dense: str = typer.Option(..., help="the fine-tuned dense checkpoint"),
    output_dir: Path = typer.Option(Path("runs/study"), "--output-dir", "-o", help="fine-tuned cells go here",
                                    callback=_output_dir),
    families: str = typer.Option("neighbour,random,lexical,global+neighbour,bigbird", help="pattern families"),
    placements: str = typer.Option("all,later", help="all, later (second half), or fromN"),
    sparsity: str = typer.Option("0.78,0.9", help="target sparsities; each family's knob is matched to reach them"),
    epochs: float = typer.Option(0.0, help="0: masks on the dense checkpoint as it is; > 0: fine-tune each cell with its mask"),
    batch_size: int = 32, lr: float = 3e-5, data_dir: Optional[str] = None,
    results: Optional[Path] = typer.Option(None, help="append JSON lines here (e.g. results/sparse/TASK_study.jsonl)",
                                             callback=_output_file),
    threads: Optional[int] = None,
    learned_lambdas: str = typer.Option("", help="also learn neighbour degrees at these lambdas (needs --epochs > 0)"),
    control: bool = typer.Option(False, help="also fine-tune the dense model the same way without a mask (needs --epochs > 0)"),
    max_train_examples: Optional[int] = _PIPELINE_OPTIONS["max_train_examples"],
):
    """Breaking BERT's study: pattern families at matched sparsity, on all or later layers."""
    from ..methods.sparse.study import parse_grid, run_study

    _set_threads(threads)
    fams, places, targets = parse_grid(families, placements, sparsity)
    rows = run_study(task, dense, output_dir / task, fams, places, targets, epochs, data_dir, results,
                     dict(batch_size=batch_size, lr=lr, max_train_examples=max_train_examples),
                     checks.numbers(learned_lambdas, "learned-lambdas", unique=True), control)
    for row in rows:
        typer.echo(json.dumps({k: row.get(k) for k in ("family", "placement", "target_sparsity", "knob", "sparsity",
                                                       "score", "dense_score")}))


@study_app.command("combos")
def study_combos(
    task: str = typer.Option(...), dense: str = typer.Option(..., help="the fine-tuned dense checkpoint"),
    widths: str = typer.Option("1,2,4,8", help="neighbour widths"),
    randoms: str = typer.Option("1,2,4", help="random keys per query"),
    placement: str = typer.Option("later", help="all, later (second half), or fromN"),
    data_dir: Optional[str] = None,
    results: Optional[Path] = typer.Option(None, help="append JSON lines here (e.g. results/sparse/TASK_combos.jsonl)",
                                             callback=_output_file),
    threads: Optional[int] = None,
):
    """Breaking BERT's Study 2: global + random + neighbour at several degrees, and each with one component removed."""
    from ..methods.sparse.study import run_combinations

    _set_threads(threads)
    ws, rs = checks.numbers(widths, "widths", int, unique=True), checks.numbers(randoms, "randoms", int, unique=True)
    if not ws or not rs or min(ws + rs) < 1:
        raise LeanbertError("--widths and --randoms need integers >= 1 (removing a component is part of the grid)")
    for row in run_combinations(task, dense, ws, rs, placement, data_dir, results):
        typer.echo(json.dumps({k: row.get(k) for k in ("combination", "width", "n_random", "sparsity", "score", "dense_score")}))


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("runs/demo"), help="cache of the fine-tuned checkpoint", callback=_output_dir),
    threads: Optional[int] = None,
):
    """Fine-tune the default backbone on BBC News (ACC offline tuning), evaluate at several speedups."""
    from .demo import run_demo

    _set_threads(threads)
    run_demo(output_dir)


@app.command()
def report(
    results: Path = typer.Option(Path("results"), help="folder of *.jsonl result files"),
    out: Path = typer.Option(Path("docs/results.md"), help="Markdown file to write; plots go beside it in plots/",
                                  callback=_output_file),
    preamble: Optional[Path] = typer.Option(Path("docs/results_preamble.md"), help="hand-written text put first"),
):
    """Render result rows as Markdown tables and accuracy-vs-speed plots (PNG and SVG)."""
    from ..report.render import write_report

    if not results.is_dir():
        raise LeanbertError(f"results folder not found: {results}")
    text = preamble.read_text(encoding="utf-8") if preamble and preamble.is_file() else "# Results\n"
    typer.echo(f"wrote {write_report(results, out, text)}")


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        if threads < 1:
            raise LeanbertError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


INTERRUPTED = "interrupted: work finished before it is kept (rows already appended; training resumes from its last saved state)"


def main(argv: list[str] | None = None) -> None:
    """The `leanbert` entry point. Errors in the user's input, ours or the option parser's, print as one
    line `error: ...` with exit code 2; Ctrl-C prints one line and exits 130."""
    usage_errors, aborts = _parser_exceptions()
    try:
        code = app(args=argv, prog_name="leanbert", standalone_mode=False)
    except LeanbertError as e:
        _exit(f"error: {e}", 2)
    except usage_errors as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `leanbert` alone: the help, not an error line
            e.show()
            sys.exit(e.exit_code)
        where = f" (see {e.ctx.command_path} --help)" if getattr(e, "ctx", None) else ""
        _exit(f"error: {e.format_message()}{where}", e.exit_code)
    except (KeyboardInterrupt, *aborts):
        _exit(INTERRUPTED, 130)
    if code == 130:  # typer turns a KeyboardInterrupt inside a command into Exit(130)
        _exit(INTERRUPTED, 130)
    sys.exit(code if isinstance(code, int) else 0)


def _parser_exceptions() -> tuple[tuple, tuple]:
    """The option parser's usage-error and abort classes: typer's own (newer typer vendors click) and click's."""
    usage, aborts = [getattr(typer, "TyperException", None)], [getattr(typer, "Abort", None)]
    try:
        import click

        usage.append(click.ClickException)
        aborts.append(click.Abort)
    except ImportError:
        pass
    return tuple(c for c in usage if c), tuple(c for c in aborts if c)


def _exit(line: str, code: int):
    typer.echo(" ".join(line.split()), err=True)  # one line, whatever the message held
    sys.exit(code)
