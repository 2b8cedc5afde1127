"""Keep the C allocator from handing memory back to the kernel between timed passes.

With glibc's defaults every tensor above the mmap threshold (at most 32 MiB; a batch-32 FFN activation of
BERT-base is ~50 MiB) is mmap'ed on allocation and unmapped on free, so each forward pass faults in and zeroes
its large activations again: ~300,000 minor page faults per dense pass over 128 MRPC examples at batch 32 on
this machine. How many, and what they cost, changed from process to process (160k-300k faults, dense passes
4.7-5.0 s for the same work), which moved speedup ratios by several percent between two runs of the same
benchmark. With mmap off and trimming off, the heap is faulted in once (the warm-up pass) and reused, as in a
long-running server or under jemalloc/tcmalloc; dense and method then pay only for their arithmetic and memory
traffic. The setting is process-wide and is recorded in every timed row ("allocator").
"""
from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)
_TRIM_NEVER = 2**31 - 1  # mallopt takes an int: keep up to 2 GiB of free heap top, far above one pass's peak

DEFAULT = "default"
WARM = "glibc: mmap off, trim off"
_state = DEFAULT  # what this process's allocator does now (the switch cannot be taken back)


def _glibc():
    try:
        libc = ctypes.CDLL(None)  # the running process's symbols, the C library's among them
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


def keep_freed_memory() -> str:
    """Switch glibc to a warm heap for the rest of the process. Returns what the allocator now does: WARM, or
    DEFAULT where the C library is not glibc (nothing changed; timings then include the allocator's own costs)."""
    global _state
    libc = _glibc()
    if libc is not None:
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        if libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_NEVER) == 1 and libc.mallopt(_M_MMAP_MAX, 0) == 1:
            _state = WARM
    return _state


def current() -> str:
    """What the allocator does in this process now, for the timed rows."""
    return _state
