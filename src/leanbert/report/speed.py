"""The speed sections of the results report: repeatability of the timings, and the deployment runtimes."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .. import atomic
from .render import md_table


def speed_rows(results_dir: Path, name: str) -> list[dict]:
    """Rows of results/speed/NAME.jsonl ([] when the file is absent)."""
    path = Path(results_dir) / "speed" / f"{name}.jsonl"
    if not path.is_file():
        return []
    return atomic.read_jsonl(path)


def deployment_section(results_dir: Path) -> list[str]:
    """ONNX export checks and onnxruntime vs PyTorch latency; the HTTP server's load test."""
    lines = []
    onnx = speed_rows(results_dir, "onnx")
    if onnx:
        lines += ["", "## ONNX export (results/speed/onnx.jsonl, benchmarks/onnx_speed.py)", "",
                  "Same dynamically padded dev batches, one thread each. `vs dense` compares each runtime with its own "
                  "dense model in the same run; max |diff| is onnxruntime vs PyTorch on the logits over the checked lengths.", ""]
        lines += md_table(["task", "target", "batch", "PyTorch s", "ORT s", "ORT/PyTorch speedup", "vs dense (PyTorch)",
                           "vs dense (ORT)", "lengths checked", "max abs diff"], "lrrrrrrrlr",
                          ([r["task"], r["target_speedup"], r["batch_size"], f"{r['torch_seconds']:.3f}",
                            f"{r['onnx_seconds']:.3f}", f"{r['onnx_vs_torch']:.2f}x",
                            f"{r['speedup_vs_dense']['torch']:.2f}x", f"{r['speedup_vs_dense']['onnx']:.2f}x",
                            ",".join(str(n) for n in dict.fromkeys(c["length"] for c in r["export_checks"])),
                            f"{max(c['max_abs_diff'] for c in r['export_checks']):.1e}"] for r in onnx))
    for name in SERVE_FILES:
        lines += _serve_table(name, speed_rows(results_dir, name))
    return lines


SERVE_FILES = ("serve", "serve_batching", "serve_workers")  # benchmarks/load_test.py: as it was, batching, workers


def _serve_table(name: str, rows: list[dict]) -> list[str]:
    """One load-test file: throughput and latency per server setting (older files lack the later columns: "-")."""
    if not rows:
        return []

    def runtime(r):
        return "onnxruntime" if "--runtime onnxruntime" in r.get("server_args", "") else "torch"

    lines = ["", f"## HTTP server load test (results/speed/{name}.jsonl, benchmarks/load_test.py)", ""]
    return lines + md_table(
        ["checkpoint", "batching", "workers", "threads", "runtime", "speedup", "texts/request", "clients", "requests",
         "errors", "requests/s", "texts/s", "p50 ms", "p90 ms", "p99 ms"], "lllllrrrrrrrrrr",
        ([r["checkpoint"], {True: "on", False: "off"}.get(r.get("batching"), "-"), r.get("workers", "-"),
          r.get("server_threads", "-"), runtime(r), r["speedup"], r["texts_per_request"], r["clients"], r["requests"],
          r["errors"], f"{r['requests_per_s']:.1f}", f"{r['texts_per_s']:.0f}",
          *(f"{r['latency_ms'][q]:.0f}" for q in ("p50", "p90", "p99"))] for r in rows))


def _rounds_text(rounds) -> str:
    """A row's rounds: one count (older rows) or {batch size: count}."""
    if isinstance(rounds, dict):
        return ", ".join(f"{n} at batch {bs}" for bs, n in sorted(rounds.items(), key=lambda kv: int(kv[0])))
    return str(rounds)


def repeatability_section(results_dir: Path) -> list[str]:
    """One table per results/speed/repeatability*.jsonl (a file per protocol of the benchmark, e.g. its rounds)."""
    lines = []
    for path in sorted((Path(results_dir) / "speed").glob("repeatability*.jsonl")):
        rows = atomic.read_jsonl(path)
        by_target = defaultdict(list)
        for r in rows:
            by_target[r["target_speedup"]].append(r)
        rounds = sorted({_rounds_text(r.get("rounds", "-")) for r in rows})
        processes = len({r.get("run_id") for r in rows})  # rows before run ids: one process
        heap = sorted({r.get("allocator", "default") for r in rows})
        lines += ["", f"## Repeatability ({path.relative_to(Path(results_dir).parent)})", "",
                  f"The same benchmark run {max(len(g) for g in by_target.values())} times in {processes} "
                  f"process{'es' if processes > 1 else ''} (runs in file order), dense baselines re-measured beside "
                  f"every config ({'/'.join(rounds)} alternating rounds); allocator: {', '.join(heap)}; "
                  "spread = (max - min) / mean.", "",
                  "| target | protocol | batch | runs | spread |", "|---:|---|---:|---|---:|"]
        for target, group in sorted(by_target.items()):
            for protocol in ("padded", "dynamic"):
                for bs in sorted(group[0][protocol], key=int):
                    vals = [g[protocol][bs] for g in group]
                    spread = (max(vals) - min(vals)) / (sum(vals) / len(vals))
                    ratios = " / ".join(f"{v:.2f}x" for v in vals)
                    lines.append(f"| {target} | {protocol} | {bs} | {ratios} | {100 * spread:.1f}% |")
    return lines
