"""The warm heap: after the switch, freeing and re-allocating a large tensor stops faulting pages in."""
import platform
import subprocess
import sys

import pytest

from leanbert.measure import allocator

# A fresh process, so the switch made by other tests in this one does not decide the "before" half; one
# process for both tests (each start imports torch). It prints the state before the switch, then the faults.
PROBE = r"""
import resource, torch
from leanbert.measure import allocator

def faults_of_fresh_tensors(n=4, mib=64):
    for _ in range(2):  # warm-up: the heap grows once (twice: a small object may land above the first block)
        torch.ones(mib << 18)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        torch.ones(mib << 18)  # 64 MiB of float32, written and freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

initial = allocator.current()
default = faults_of_fresh_tensors()
state = allocator.keep_freed_memory()
print(initial, default, faults_of_fresh_tensors(), state, allocator.current(), sep="\n")
"""


@pytest.fixture(scope="module")
def fresh_process():
    """What PROBE printed: the allocator state before the switch, faults before and after, the switch's state."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.splitlines()
    initial, default, warm, state, current = out
    return initial, int(default), int(warm), state, current


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the switch is glibc's mallopt")
def test_warm_heap_stops_per_allocation_page_faults(fresh_process):
    _, default, warm, state, current = fresh_process
    pages = 4 * (64 << 20) // 4096
    assert default > pages / 2  # glibc's default maps and unmaps a 64 MiB block on every allocation
    assert warm < pages / 20  # kept in the heap: written again without faulting
    assert state == current == allocator.WARM


def test_current_reports_the_switch_in_a_fresh_process(fresh_process):
    """DEFAULT until the switch, then what the switch returned: WARM exactly where the C library is glibc."""
    before, _, _, state, after = fresh_process
    assert before == allocator.DEFAULT and after == state
    assert (state == allocator.WARM) == (platform.libc_ver()[0] == "glibc")
