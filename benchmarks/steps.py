"""The plan's vocabulary: a step is one or more command lines, the results rows or run folders they make, and
the steps whose outputs they read."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

THREADS = ("--threads", "1")  # every command runs one torch thread (timings and training alike)


class PlanError(Exception):
    """A step that cannot run as declared (a command that does not parse, a missing input, a failed command)."""


@dataclass(frozen=True)
class Late:
    """A value known only when the step runs, read from what an earlier step wrote: `dense_score` (the dense
    row's score in a results file), `budgets` (1 and the budgets an elastic search.json holds) or `results` (the
    step's rows file: a staging file while it runs, its results file in listings)."""
    what: str
    source: str = ""

    def __str__(self) -> str:
        return f"{{{self.what}:{self.source}}}" if self.source else f"{{{self.what}}}"


RESULTS = Late("results")


@dataclass(frozen=True)
class Rows:
    """Result rows a step writes into `file`: the rows of `variants` (other rows are kept), or the whole file."""
    file: str
    variants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Step:
    name: str  # "<part>:<what>", unique in the plan
    commands: tuple[tuple[str | Late, ...], ...]  # argv lists, each starting with "leanbert" or "python"
    rows: Rows | None = None
    outputs: tuple[str, ...] = ()  # run folders (done once the runner has stamped them after a success)
    needs: tuple[str, ...] = ()  # steps whose outputs the commands read
    task: str | None = None
    resumes_rows: bool = False  # the command itself skips rows already in its rows file (the studies)
    pin: bool = True  # run under `taskset -c CORE` when the plan is given --core
    note: str = ""

    @property
    def part(self) -> str:
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class Options:
    """What the command lines depend on besides the plan: the GLUE data folder and the CPU core steps are
    pinned to (also the core the load test pins its server to)."""
    data_dir: str = "../shared/data/glue"
    core: int | None = None


def num(x: float) -> str:
    return f"{x:g}"


def nums(xs) -> str:
    return ",".join(num(x) for x in xs)


def leanbert(*args) -> tuple:
    """One leanbert command line; None and False entries are dropped, lists are spliced in."""
    out = ["leanbert"]
    for a in args:
        if isinstance(a, (list, tuple)):
            out += [str(x) if not isinstance(x, Late) else x for x in a]
        elif a is not None and a is not False:
            out.append(a if isinstance(a, Late) else str(a))
    return tuple(out)


def python(module: str, *args) -> tuple:
    return ("python", "-m", f"benchmarks.{module}", *leanbert(*args)[1:])


def opt(flag: str, value) -> list:
    """`flag value`, or nothing when the value is None (an option a task does not set)."""
    return [] if value is None else [flag, value if isinstance(value, Late) else str(value)]


def render(argv, results: str | None = None) -> str:
    """A command line as a shell would read it; `results` stands in for the RESULTS placeholder."""
    def word(a) -> str:
        if a is RESULTS and results is not None:
            return shlex.quote(results)
        return str(a) if isinstance(a, Late) else shlex.quote(a)

    return " ".join(word(a) for a in argv)
