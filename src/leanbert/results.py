"""Result rows in the contract of DESIGN.md section 4, appended atomically to JSON-lines files."""
from __future__ import annotations

import platform
import shlex
import sys

import torch

from . import atomic


def versions() -> dict:
    import transformers

    from . import __version__

    return {"leanbert": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "cpu": cpu_model()}


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["leanbert", *sys.argv[1:]])


def make_row(*, task, split, method, config, backbone, metric, score, dense_score, gflops, dense_gflops,
             speedup_padded=None, speedup_dynamic=None, predicted_speedup=None, command=None, **extra) -> dict:
    row = {"task": task, "split": split, "method": method, "config": config or {}, "backbone": backbone,
           "metric": metric, "score": float(score), "dense_score": float(dense_score), "gflops": float(gflops),
           "dense_gflops": float(dense_gflops), "speedup_padded": speedup_padded or {},
           "speedup_dynamic": speedup_dynamic or {}, "predicted_speedup": predicted_speedup,
           "threads": torch.get_num_threads(), "versions": versions(), "command": command or command_line()}
    row.update(extra)
    return row


def append(path, row: dict) -> None:
    atomic.append_jsonl(path, row)
