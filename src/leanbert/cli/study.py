"""`leanbert study`, `demo` and `report`: study grids, the demo, and the results report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import checks
from ..errors import LeanbertError
from .app import app
from .options import PIPELINE_OPTIONS, check_output_dir, check_output_file, set_threads


study_app = typer.Typer(help="Study grids that write JSON lines for `leanbert report`.")
app.add_typer(study_app, name="study")


@study_app.command("sparse")
def study_sparse(
    task: str = typer.Option(...), dense: str = typer.Option(..., help="the fine-tuned dense checkpoint"),
    output_dir: Path = typer.Option(Path("runs/study"), "--output-dir", "-o", help="fine-tuned cells go here",
                                    callback=check_output_dir),
    families: str = typer.Option("neighbour,random,lexical,global+neighbour,bigbird", help="pattern families"),
    placements: str = typer.Option("all,later", help="all, later (second half), or fromN"),
    sparsity: str = typer.Option("0.78,0.9", help="target sparsities; each family's knob is matched to reach them"),
    epochs: float = typer.Option(0.0, help="0: masks on the dense checkpoint as it is; > 0: fine-tune each cell with its mask"),
    batch_size: int = 32, lr: float = 3e-5, data_dir: Optional[str] = None,
    results: Optional[Path] = typer.Option(None, help="append JSON lines here (e.g. results/sparse/TASK_study.jsonl)",
                                             callback=check_output_file),
    threads: Optional[int] = None,
    learned_lambdas: str = typer.Option("", help="also learn neighbour degrees at these lambdas (needs --epochs > 0)"),
    control: bool = typer.Option(False, help="also fine-tune the dense model the same way without a mask (needs --epochs > 0)"),
    max_train_examples: Optional[int] = PIPELINE_OPTIONS["max_train_examples"],
):
    """Breaking BERT's study: pattern families at matched sparsity, on all or later layers."""
    from ..methods.sparse.study import parse_grid, run_study

    set_threads(threads)
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
                                             callback=check_output_file),
    threads: Optional[int] = None,
):
    """Breaking BERT's Study 2: global + random + neighbour at several degrees, and each with one component removed."""
    from ..methods.sparse.study import run_combinations

    set_threads(threads)
    ws, rs = checks.numbers(widths, "widths", int, unique=True), checks.numbers(randoms, "randoms", int, unique=True)
    if not ws or not rs or min(ws + rs) < 1:
        raise LeanbertError("--widths and --randoms need integers >= 1 (removing a component is part of the grid)")
    for row in run_combinations(task, dense, ws, rs, placement, data_dir, results):
        typer.echo(json.dumps({k: row.get(k) for k in ("combination", "width", "n_random", "sparsity", "score", "dense_score")}))


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("runs/demo"), help="cache of the fine-tuned checkpoint", callback=check_output_dir),
    threads: Optional[int] = None,
):
    """Fine-tune the default backbone on BBC News (ACC offline tuning), evaluate at several speedups."""
    from .demo import run_demo

    set_threads(threads)
    run_demo(output_dir)


@app.command()
def report(
    results: Path = typer.Option(Path("results"), help="folder of *.jsonl result files"),
    out: Path = typer.Option(Path("docs/results.md"), help="Markdown file to write; plots go beside it in plots/",
                                  callback=check_output_file),
    preamble: Optional[Path] = typer.Option(Path("docs/results_preamble.md"), help="hand-written text put first"),
):
    """Render result rows as Markdown tables and accuracy-vs-speed plots (PNG and SVG)."""
    from ..report.render import write_report

    if not results.is_dir():
        raise LeanbertError(f"results folder not found: {results}")
    text = preamble.read_text(encoding="utf-8") if preamble and preamble.is_file() else "# Results\n"
    typer.echo(f"wrote {write_report(results, out, text)}")
