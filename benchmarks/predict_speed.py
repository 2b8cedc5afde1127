"""Throughput of `leanbert predict` on a large file, with one process and with several (accelerate), and whether
the several-process output is byte for byte the one-process output.

    python -m benchmarks.predict_speed --checkpoint runs/mrpc/dense/best \
        --input ../shared/data/glue/SST-2/train.tsv --text-col sentence --speedups 1,3 --processes 1,2 \
        --out results/speed/predict.jsonl     # the plan's step speed/predict

Every process runs one torch thread; one process is pinned to core 0, N processes to cores 0..N-1 (each
process's own thread is not pinned further). Texts per second = every row of the input over the command's own
`seconds` (from the first chunk to the merged output: loading the model and reading the file are not in it; the
main process prints it after all processes are done). The command's own `texts_per_s` counts only the rows its
process computed, half of them with two processes. Outputs go to --work (not committed); each run starts from
an empty output (no resumed chunks).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from leanbert.report.results import append


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_predict(args, speedup: float, processes: int, output: Path) -> dict:
    """One run from scratch; returns the command's JSON summary."""
    for stale in (output, Path(f"{output}.partial")):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    predict = ["predict", args.checkpoint, "-i", args.input, "--text-col", args.text_col, "-o", str(output),
               "--speedup", f"{speedup:g}", "--threads", "1", "--batch-size", str(args.batch_size), "--quiet"]
    cores = ["taskset", "-c", ",".join(str(c) for c in range(processes))]
    if processes == 1:
        cmd = cores + [sys.executable, "-m", "leanbert", *predict]
    else:
        accelerate = str(Path(sys.executable).with_name("accelerate"))
        cmd = cores + [accelerate, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                       "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
                       "-m", "leanbert", *predict]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"predict failed ({processes} processes, speedup {speedup}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--text-col", default="sentence")
    ap.add_argument("--speedups", default="1,3")
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--work", type=Path, default=Path("runs/predict_speed"))
    ap.add_argument("--out", type=Path, default=Path("results/speed/predict.jsonl"))
    return ap


def main() -> None:
    args = build_parser().parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    counts = [int(p) for p in args.processes.split(",")]
    for speedup in (float(s) for s in args.speedups.split(",")):
        one = None
        for n in counts:
            output = args.work / f"s{speedup:g}_p{n}.jsonl"
            summary = run_predict(args, speedup, n, output)
            one = output if n == 1 else one
            same = None if one is None or n == 1 else output.read_bytes() == one.read_bytes()
            row = {"benchmark": "predict", "checkpoint": args.checkpoint, "input": args.input, "speedup": speedup,
                   "processes": n, "threads_per_process": 1, "batch_size": args.batch_size, "rows": summary["rows"],
                   "seconds": summary["seconds"], "texts_per_s": round(summary["rows"] / summary["seconds"], 1),
                   "computed_by_main_process": summary["computed_here"],
                   "identical_to_one_process": same}
            append(args.out, row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
