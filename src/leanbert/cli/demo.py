"""`leanbert demo`: one ACC fine-tuning on BBC News, then the same checkpoint at several speedups.

Sized for 15 minutes on 2 CPU cores: 256-token inputs, 800 training articles, one epoch. A second
run reuses the cached checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..measure.bench import SpeedBench, Timing
from ..measure.runner import evaluate_rows, make_bench
from ..training.train import FinetuneArgs, finetune

DEMO_SPEEDUPS = (1.0, 2.0, 3.0, 4.0)
DEMO_LENGTH = 256


def run_demo(output_dir: Path) -> list[dict]:
    best = output_dir / "best"
    if not (best / "config.json").is_file():
        typer.echo("fine-tuning all-MiniLM-L6-v2 on BBC News with ACC offline tuning (about 5 minutes)...")
        finetune(FinetuneArgs(task="bbc", output_dir=str(output_dir), epochs=1, batch_size=16, lr=1e-4,
                              max_length=DEMO_LENGTH, max_train_examples=800, acc_speedups=(1.0, 4.0)))
    else:
        typer.echo(f"reusing the fine-tuned checkpoint in {best}")
    typer.echo(f"calibrating the timer, then scoring and timing {len(DEMO_SPEEDUPS)} speedups on the BBC test split "
               "(a few minutes; progress bars below on a terminal)...")
    bench = _bench(best)
    rows = evaluate_rows(best, "bbc", "test", method="acc", speedups=DEMO_SPEEDUPS, max_length=DEMO_LENGTH, bench=bench)
    (output_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _print_table(rows)
    _plot(rows, output_dir / "acc_tradeoff.png")
    typer.echo(f"rows: {output_dir / 'results.jsonl'}   plot: {output_dir / 'acc_tradeoff.png'}")
    return rows


def _bench(checkpoint: Path) -> SpeedBench:
    return make_bench(checkpoint, "bbc", "test", None, DEMO_LENGTH, Timing({1: 4, 16: 32}, min_run_time=0.3))


def _print_table(rows: list[dict]) -> None:
    typer.echo(f"\n{'target':>7} {'accuracy':>9} {'dense':>7} {'GFLOPs':>7} {'predicted':>9} "
               f"{'measured vs padded (bs1/bs16)':>30} {'vs dynamic (bs1/bs16)':>22}")
    for r in rows:
        target, predicted = r["target_speedup"], r["predicted_speedup"]
        p, d = r["speedup_padded"], r["speedup_dynamic"]
        typer.echo(f"{target:>7.2f} {r['score']:>9.2f} {r['dense_score']:>7.2f} {r['gflops']:>7.2f} {predicted:>9.2f} "
                   f"{p.get('1', 0):>14.2f}x / {p.get('16', 0):.2f}x {d.get('1', 0):>12.2f}x / {d.get('16', 0):.2f}x")


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label in (("speedup_padded", "vs dense, padded"), ("speedup_dynamic", "vs dense SDPA, dynamic")):
        ax.plot([r[key].get("16", 0) for r in rows], [r["score"] for r in rows], "o-", label=label)
    ax.axhline(rows[0]["dense_score"], color="grey", ls="--", label="dense")
    ax.set_xlabel("measured speedup (batch 16)")
    ax.set_ylabel("BBC test accuracy (%)")
    ax.set_title("ACC: one checkpoint, many speedups")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
