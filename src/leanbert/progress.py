"""Progress bars for long steps (tqdm): what runs, how fast, and when it ends, on a terminal only.

Bars write to stderr, so JSON lines on stdout stay machine-readable. They are off when stderr is not a
terminal (logs, pipes, CI: no carriage-return noise) and when the user asks for quiet (`--quiet`, or
LEANBERT_QUIET=1 for commands run by scripts).
"""
from __future__ import annotations

import os
import sys

from tqdm import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = bool(quiet)


def enabled() -> bool:
    return not _quiet and os.environ.get("LEANBERT_QUIET", "") in ("", "0") and sys.stderr.isatty()


def bar(iterable=None, total: int | None = None, desc: str = "", unit: str = "it", disable: bool = False,
        leave: bool = True):
    """A tqdm bar (rate and ETA included), silent unless `enabled()`; `leave=False` for inner bars."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable or not enabled(), file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1, leave=leave)
