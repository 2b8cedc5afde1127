"""What users run instead, side by side with token reduction (issue 19): rows = the dense model and each reduction
target, columns = runtime x precision; each cell the task score and, timed, the speedup against dense fp32 PyTorch
with dynamic padding at batch 1 and 32. All cells come from this one process (one run per cell group).

    taskset -c 1 python -m benchmarks.runtimes --task mrpc --dense runs/mrpc/dense/best \
        --checkpoint runs/mrpc/elastic/best --speedups 1.5,2,3 --data-dir ../shared/data/glue \
        --threads 1 --out results/runtimes/mrpc.jsonl            # the plan's step runtimes/mrpc
    ... --no-timing --out results/runtimes/mrpc_accuracy.jsonl  # scores only (no quiet core at hand)

Without --checkpoint the reduced rows run ACC's geometric profiles on the dense checkpoint (no offline tuning).
Every row records the runtime, precision, export checks and fusions (graphs), and the command that made it;
`python -m benchmarks.runtimes_table` renders the tables. A cell whose graph the export refuses (its logits past
the precision's tolerance: leanbert would not serve it) is a row with `refused` (the reason) and no score, and
the other cells still run: a refusal is a result too.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import torch

from transformers import AutoConfig

from leanbert.measure.bench import Timing
from leanbert.methods.acc.profiles import saved_table
from leanbert.errors import LeanbertError
from leanbert.report.results import append
from leanbert.measure.runner import evaluate_rows, iter_rows
from leanbert.deploy.runtimes.measure import Runtime
from leanbert.deploy.runtimes.timing import runtime_bench

CELLS = ("torch:fp32", "torch:int8", "onnxruntime:fp32", "onnxruntime:int8", "onnxruntime:int8-per-channel",
         "onnxruntime-fused:fp32", "onnxruntime-fused:int8")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True)
    ap.add_argument("--dense", required=True, help="the fine-tuned dense checkpoint (the rows' and timings' baseline)")
    ap.add_argument("--checkpoint", default=None, help="the reduction checkpoint (elastic or ACC offline-tuned)")
    ap.add_argument("--speedups", default="1.5,2,3", help="reduction targets (FLOPs), one row each")
    ap.add_argument("--cells", default=",".join(CELLS), help="runtime:precision columns")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--data-dir", default=None, help="glue_data directory (or LEANBERT_GLUE_DIR)")
    ap.add_argument("--no-timing", action="store_true", help="scores only")
    ap.add_argument("--batch-sizes", default="1,32")
    ap.add_argument("--examples", default="32,128", help="dev examples timed per batch size")
    ap.add_argument("--min-run-time", type=float, default=2.0, help="seconds of timing per ratio")
    ap.add_argument("--rounds", type=int, default=3, help="alternating baseline/runner measurements per ratio")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    return ap


def parse_cells(text: str, graph_dir: str) -> list[Runtime]:
    cells = []
    for cell in text.split(","):
        runtime, _, precision = cell.partition(":")
        cells.append(Runtime(runtime, precision or "fp32", graph_dir))  # checks both names
    return cells


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as graphs:  # each fp32 export once, shared by the graph cells
        run(args, parse_cells(args.cells, graphs), argv)


def run(args, cells: list[Runtime], argv) -> None:
    targets = [float(s) for s in args.speedups.split(",")]
    sizes, counts = [int(x) for x in args.batch_sizes.split(",")], [int(x) for x in args.examples.split(",")]
    timing = Timing(dict(zip(sizes, counts)), args.min_run_time, args.rounds)
    common = dict(task=args.task, split=args.split, data_dir=args.data_dir)
    dense_score = evaluate_rows(args.dense, **common)[0]["score"]  # dense fp32 PyTorch: every cell's reference
    bench = None if args.no_timing else runtime_bench(args.dense, args.task, args.split, args.data_dir, None, timing)
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "benchmarks.runtimes", *(argv or sys.argv[1:])])
    reduced = args.checkpoint or args.dense
    # the reduced rows' name: the one evaluate gives them (elastic: searched profiles saved; else acc), or, without
    # a checkpoint, what they are: ACC's geometric profiles on the dense model
    name = ("elastic" if saved_table(AutoConfig.from_pretrained(reduced)) else "acc") if args.checkpoint \
        else "acc-without-offline-tuning"
    for rt in cells:  # the dense row first, then each target, in this runtime and precision
        jobs = [("dense", 1.0, dict(configs=[(1.0, None)]), args.dense)]
        jobs += [(name, t, dict(method="acc", speedups=[t]), reduced) for t in targets]
        for label, target, how, checkpoint in jobs:  # one at a time: a refused target does not take the next along
            try:
                for row in iter_rows(checkpoint, **common, **how, dense_score=dense_score, bench=bench, runtime=rt):
                    if label == "dense" or not args.checkpoint:  # a checkpoint's reduced rows keep evaluate's name
                        row["variant"] = label
                    row.update(command=command, timed=bench is not None)
                    report(args.out, row)
            except LeanbertError as e:  # this cell is refused (the export's reason); the next one runs
                report(args.out, refused_row(args, rt, label, target, str(e), command))


def refused_row(args, rt: Runtime, variant: str, target: float, reason: str, command: str) -> dict:
    return {"task": args.task, "split": args.split, "variant": variant, "target_speedup": target,
            "runtime": rt.runtime, "precision": rt.precision, "refused": reason, "command": command}


def report(out: Path, row: dict) -> None:
    print({k: row.get(k) for k in ("variant", "target_speedup", "runtime", "precision", "score", "speedup_dynamic",
                                   "refused")}, flush=True)
    append(out, row)

if __name__ == "__main__":
    main()
