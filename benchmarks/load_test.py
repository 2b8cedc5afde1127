"""Load test of `leanbert serve` on loopback: throughput and latency percentiles at several speedups.

    python -m benchmarks.load_test --checkpoint runs/sst2/acc/best --task sst2 --speedups 1,2,3,4 \
        --data-dir ../shared/data/glue --out results/speed/serve.jsonl   # the plan's step speed/serve

Starts the server as a subprocess pinned to one core (`taskset -c CORE`, one torch thread), waits for
/health, then for each speedup sends real dev texts from `--clients` concurrent clients. Every loop is
bounded: at most `--requests` requests and `--seconds` seconds per speedup; the server is stopped at the end.
Only 127.0.0.1 is ever contacted.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from leanbert.data.datasets import load_task
from leanbert.report.results import append

HOST = "127.0.0.1"


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}")
        try:
            return httpx.get(f"{url}/health", timeout=2.0).json()
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"server not healthy after {timeout:.0f} s")


def run_load(url: str, texts: list[str], speedup: float | None, texts_per_request: int, clients: int,
             max_requests: int, max_seconds: float, seed: int = 0) -> dict:
    rng = random.Random(seed)
    payloads = [{"texts": rng.sample(texts, texts_per_request), **({"speedup": speedup} if speedup else {})}
                for _ in range(max_requests)]
    deadline = time.monotonic() + max_seconds
    latencies, errors = [], 0

    def one(client: httpx.Client, payload: dict):
        if time.monotonic() > deadline:
            return None
        start = time.perf_counter()
        response = client.post(f"{url}/classify", json=payload, timeout=60.0)
        return time.perf_counter() - start, response.status_code

    start = time.perf_counter()
    with httpx.Client() as client, cf.ThreadPoolExecutor(clients) as pool:
        for result in pool.map(lambda p: one(client, p), payloads):
            if result is None:
                continue
            latencies.append(result[0])
            errors += result[1] != 200
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 2), "texts_per_s": round(len(latencies) * texts_per_request / wall, 1),
            "latency_ms": {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 90, 99)}}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--task", default="sst2", help="whose dev texts are sent")
    ap.add_argument("--speedups", default="1,2,3,4")
    ap.add_argument("--texts-per-request", type=int, default=8)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=300, help="at most this many requests per speedup")
    ap.add_argument("--seconds", type=float, default=45.0, help="and at most this long per speedup")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--core", default="1", help="CPU core the server is pinned to")
    ap.add_argument("--data-dir", default=None, help="glue_data directory (or LEANBERT_GLUE_DIR)")
    ap.add_argument("--out", type=Path, default=Path("results/speed/serve.jsonl"))
    return ap


def main() -> None:
    args = build_parser().parse_args()
    data = load_task(args.task, args.data_dir, splits=("dev",))
    texts = [e.text_a for e in data.split("dev")]
    url = f"http://{HOST}:{args.port}"
    leanbert = Path(sys.executable).with_name("leanbert")
    cmd = ["taskset", "-c", args.core, str(leanbert), "serve", args.checkpoint, "--host", HOST, "--port", str(args.port),
           "--threads", "1"]
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    try:
        info = wait_healthy(url, proc)
        for s in [float(x) for x in args.speedups.split(",")]:
            stats = run_load(url, texts, s, args.texts_per_request, args.clients, args.requests, args.seconds)
            row = {"checkpoint": args.checkpoint, "task": args.task, "speedup": s, "texts_per_request": args.texts_per_request,
                   "clients": args.clients, "server_threads": 1, "max_length": info["max_length"], **stats}
            print(row, flush=True)
            append(args.out, row)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
