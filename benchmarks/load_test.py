"""Load test of `leanbert serve` on loopback: throughput and latency percentiles at several speedups.

    python -m benchmarks.load_test --checkpoint runs/sst2/acc/best --task sst2 --speedups 1,2,3,4 \
        --data-dir ../shared/data/glue --out results/speed/serve.jsonl   # the plan's step speed/serve
    python -m benchmarks.load_test --checkpoint runs/sst2/acc/best --task sst2 --clients 1,4,16 \
        --batching off,on --seconds 20 --data-dir ../shared/data/glue --out results/speed/serve_batching.jsonl

Starts the server as a subprocess pinned to `--core` (`taskset -c`, `--threads` per worker process), once
per `--batching` mode (off: one request per forward, as the server was; on: dynamic batching) and `--workers`
count (processes on one port: `serve --workers`), waits for /health,
then for each client count and speedup sends real dev texts from that many concurrent clients. Every loop is
bounded: at most `--requests` requests and `--seconds` seconds per cell; each server is stopped after its
cells. Only 127.0.0.1 is ever contacted. Clients run on the other cores (`--client-cores`).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from leanbert.data.datasets import load_task
from leanbert.report.results import append

HOST = "127.0.0.1"


def wait_healthy(url: str, proc: subprocess.Popen, workers: int = 1, timeout: float = 300.0) -> dict:
    """/health once `workers` distinct worker processes have answered it (each on a new connection): a cell must
    not start while a worker is still loading, or a one-worker measurement would be recorded as two."""
    deadline, seen = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}")
        try:
            info = httpx.get(f"{url}/health", timeout=2.0).json()
            seen.add(info["worker"])
            if len(seen) >= workers:
                return info
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"server not healthy after {timeout:.0f} s ({len(seen)} of {workers} workers answered)")


def run_load(url: str, texts: list[str], speedup: float | None, texts_per_request: int, clients: int,
             max_requests: int, max_seconds: float, seed: int = 0) -> dict:
    rng = random.Random(seed)
    payloads = [{"texts": rng.sample(texts, texts_per_request), **({"speedup": speedup} if speedup else {})}
                for _ in range(max_requests)]
    deadline = time.monotonic() + max_seconds
    latencies, errors, by_worker = [], 0, {}

    def one(client: httpx.Client, payload: dict):
        if time.monotonic() > deadline:
            return None
        start = time.perf_counter()
        response = client.post(f"{url}/classify", json=payload, timeout=60.0)
        return time.perf_counter() - start, response.status_code, response.headers.get("x-leanbert-worker")

    start = time.perf_counter()
    with httpx.Client() as client, cf.ThreadPoolExecutor(clients) as pool:
        for result in pool.map(lambda p: one(client, p), payloads):
            if result is None:
                continue
            latencies.append(result[0])
            errors += result[1] != 200
            by_worker[result[2]] = by_worker.get(result[2], 0) + 1
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 2), "texts_per_s": round(len(latencies) * texts_per_request / wall, 1),
            "latency_ms": {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 90, 95, 99)},
            "requests_per_worker": sorted(by_worker.values(), reverse=True)}  # keep-alive connections stay with one


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--task", default="sst2", help="whose dev texts are sent")
    ap.add_argument("--speedups", default="1,2,3,4")
    ap.add_argument("--texts-per-request", type=int, default=8)
    ap.add_argument("--clients", default="4", help="concurrent clients, one cell per count: e.g. 1,4,16")
    ap.add_argument("--batching", default="on", help="server modes, one server each: off, on, or off,on")
    ap.add_argument("--requests", type=int, default=300, help="at most this many requests per speedup")
    ap.add_argument("--seconds", type=float, default=45.0, help="and at most this long per speedup")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--core", default="1", help="CPU cores the server is pinned to (taskset list: 1, or 0,1)")
    ap.add_argument("--threads", type=int, default=1, help="torch (onnxruntime) threads per server process")
    ap.add_argument("--workers", default="1", help="server processes (`serve --workers`), one server each: e.g. 1,2")
    ap.add_argument("--server-args", default="", help="more `leanbert serve` options, recorded in each row "
                                                       "(e.g. '--runtime onnxruntime --graph g1.onnx --graph g2.onnx')")
    ap.add_argument("--client-cores", default=None, help="CPU cores the clients are pinned to (default: not pinned)")
    ap.add_argument("--data-dir", default=None, help="glue_data directory (or LEANBERT_GLUE_DIR)")
    ap.add_argument("--out", type=Path, default=Path("results/speed/serve.jsonl"))
    return ap


def serve_and_measure(args, texts: list[str], batching: bool, workers: int) -> None:
    url = f"http://{HOST}:{args.port}"
    leanbert = Path(sys.executable).with_name("leanbert")
    cmd = ["taskset", "-c", args.core, str(leanbert), "serve", args.checkpoint, "--host", HOST, "--port", str(args.port),
           "--threads", str(args.threads), "--batching" if batching else "--no-batching", "--workers", str(workers),
           *shlex.split(args.server_args)]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stderr=subprocess.DEVNULL)  # no access log in the output
    try:
        info = wait_healthy(url, proc, workers)
        for clients in [int(c) for c in args.clients.split(",")]:
            for s in [float(x) for x in args.speedups.split(",")]:
                stats = run_load(url, texts, s, args.texts_per_request, clients, args.requests, args.seconds)
                row = {"checkpoint": args.checkpoint, "task": args.task, "speedup": s, "batching": batching,
                       "texts_per_request": args.texts_per_request, "clients": clients, "server_threads": args.threads,
                       "workers": workers, "server_cores": args.core, "max_length": info["max_length"],
                       **({"server_args": args.server_args} if args.server_args else {}), **stats}
                print(row, flush=True)
                append(args.out, row)
    finally:
        proc.terminate()  # SIGTERM: the server finishes what is queued, then exits
        proc.wait(timeout=60)


def main() -> None:
    args = build_parser().parse_args()
    if {"--threads", "--workers"} & set(shlex.split(args.server_args)):
        raise SystemExit("--server-args: give --threads and --workers to the load test itself (rows record them)")
    if args.client_cores:
        os.sched_setaffinity(0, {int(c) for c in args.client_cores.split(",")})
    data = load_task(args.task, args.data_dir, splits=("dev",))
    texts = [e.text_a for e in data.split("dev")]
    for mode in args.batching.split(","):
        if mode not in ("on", "off"):
            raise SystemExit(f"--batching {args.batching}: use on, off, or off,on")
        for workers in [int(w) for w in args.workers.split(",")]:
            serve_and_measure(args, texts, mode == "on", workers)


if __name__ == "__main__":
    main()
