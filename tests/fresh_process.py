"""Run the `leanbert` entry point in a forked child of the test process.

A subprocess per command re-imports torch and transformers (seconds each, on a loaded machine tens of
seconds); a fork starts from the modules already imported here, yet still gives the command its own
process: its exit code comes from a real `sys.exit`, its stdout and stderr are its own file descriptors,
and nothing it changes (config, globals, patched models) leaks back into the tests. Keep a real
subprocess where the test is about the process itself (environment, allocator state at start-up).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import traceback


def run_cli(*argv) -> subprocess.CompletedProcess:
    """`leanbert *argv` in a fork: a CompletedProcess with the exit code and the decoded stdout/stderr."""
    argv = [str(a) for a in argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest: whatever happens, it ends in os._exit
            os._exit(_child(argv, out, err))
        _, status = os.waitpid(pid, 0)
        return subprocess.CompletedProcess(["leanbert", *argv], os.waitstatus_to_exitcode(status),
                                           _read(out), _read(err))


def _child(argv: list[str], out, err) -> int:
    """Point fds 1 and 2 (and sys.stdout/err, which pytest replaced) at the files, then run the entry point."""
    code = 1
    try:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        import torch

        # the OpenMP pool the parent started is gone in the child; one thread never enters it (what
        # torch's DataLoader workers do for the same reason)
        torch.set_num_threads(1)
        from leanbert.cli import main

        main(argv)
        code = 0
    except SystemExit as e:  # what the interpreter does with it: None is 0, an int is the code, else print it
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else _print_exit(e.code))
    except BaseException:  # an uncaught error: the traceback and exit status 1, as python would
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _print_exit(message) -> int:
    print(message, file=sys.stderr)
    return 1


def _read(file) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")
