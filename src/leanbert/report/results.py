"""Result rows in the contract of DESIGN.md section 4, appended atomically to JSON-lines files."""
from __future__ import annotations

import functools
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from .. import atomic


def versions() -> dict:
    import transformers

    from .. import __version__

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


@functools.lru_cache(maxsize=None)
def git_commit() -> str | None:
    """The commit of the leanbert source that is running (the git checkout the package was imported from),
    with "-dirty" when its src/ differs from that commit; None outside a git checkout (an installed wheel)."""
    src = Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(src), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


def stamp(row: dict) -> dict:
    """The row with the code version it was measured with: the git commit, and the library versions."""
    row.setdefault("commit", git_commit())
    row.setdefault("versions", versions())
    return row


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["leanbert", *sys.argv[1:]])


def make_row(*, task, split, method, config, backbone, metric, score, dense_score, gflops, dense_gflops,
             speedup_padded=None, speedup_dynamic=None, predicted_speedup=None, command=None, **extra) -> dict:
    row = {"task": task, "split": split, "method": method, "config": config or {}, "backbone": backbone,
           "metric": metric, "score": float(score), "dense_score": float(dense_score), "gflops": float(gflops),
           "dense_gflops": float(dense_gflops), "speedup_padded": speedup_padded or {},
           "speedup_dynamic": speedup_dynamic or {}, "predicted_speedup": predicted_speedup,
           "threads": torch.get_num_threads(), "versions": versions(), "command": command or command_line(),
           "commit": git_commit()}
    row.update(extra)
    return row


def append(path, row: dict) -> None:
    """Append one row, stamped with the commit and versions it ran with (every row writer comes through here)."""
    atomic.append_jsonl(path, stamp(dict(row)))
