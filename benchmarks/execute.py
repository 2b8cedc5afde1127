"""Running part of the plan: which steps, whether each is done, and running the rest in plan order.

A step is done when its rows are in its results file (every declared variant has a row; a whole-file step:
the file exists) or, for a step without rows, when each run folder it makes carries the stamp this runner
writes after the step's commands succeeded. Rows are written to a staging file (runs/plan/rows/) and moved
into the results file in one atomic replace: a variant step's old rows are dropped first (the other rows are
kept), a whole-file step replaces the file. An interrupted step leaves the results file as it was.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from .checks import check_command
from .steps import RESULTS, Late, PlanError, Step

ROOT = Path(__file__).resolve().parents[1]
STAGING = Path("runs/plan/rows")
STAMP = "plan-step.json"  # written into each run folder a step made, once its commands succeeded


@dataclass
class Context:
    root: Path = ROOT
    core: int | None = None
    src: Path | None = None  # the leanbert source the commands import (default: ROOT/src), e.g. a snapshot
    dry_run: bool = False
    force: bool = False
    log: object = print


def select(steps: list[Step], only=(), only_step=()) -> list[Step]:
    """The steps of the parts named by `only` (a part, its folder, or its results file) whose names match
    `only_step` (glob patterns, with or without the part), in plan order."""
    def in_part(s: Step) -> bool:
        return not only or any(o in (s.part, s.part.split("/")[0], f"results/{s.part}.jsonl") for o in only)

    def named(s: Step) -> bool:
        return not only_step or any(fnmatch(s.name, p) or fnmatch(s.name.partition(":")[2], p) for p in only_step)

    chosen = [s for s in steps if in_part(s) and named(s)]
    if not chosen:
        raise PlanError(f"no step matches --only {list(only)} --only-step {list(only_step)}")
    return chosen


def with_needs(steps: list[Step], chosen: list[Step], keep=lambda step: True) -> list[Step]:
    """`chosen` and, transitively, the steps they need that `keep` accepts, in plan order."""
    by_name, names = {s.name: s for s in steps}, {s.name for s in chosen}
    todo = list(names)
    while todo:
        for need in by_name[todo.pop()].needs:
            if need not in names and keep(by_name[need]):
                names.add(need)
                todo.append(need)
    return [s for s in steps if s.name in names]


def pending(steps: list[Step], chosen: list[Step], root: Path = ROOT, force: bool = False, named: bool = False) -> list[Step]:
    """What `run` runs: the chosen steps that write rows and are not done (all of them with `force`), and the
    steps they need that are not done. A step without rows (training) runs when a pending step needs it, or
    when it is `named` (chosen by --only-step): a part whose rows are all there trains nothing."""
    todo = [s for s in chosen if (s.rows is not None or named) and (force or not is_done(s, root))]
    return with_needs(steps, todo, keep=lambda s: not is_done(s, root))


def is_done(step: Step, root: Path = ROOT) -> bool:
    if step.rows is not None:
        path = root / step.rows.file
        if not path.is_file():
            return False
        seen = {json.loads(line).get("variant") for line in path.read_text().splitlines() if line.strip()}
        return step.rows.variants is None or set(step.rows.variants) <= seen
    return bool(step.outputs) and all((root / out / STAMP).is_file() for out in step.outputs)


def staging_file(step: Step) -> Path:
    return STAGING / (step.name.replace("/", "_").replace(":", "__") + ".jsonl")


def resolve(arg, step: Step, root: Path, strict: bool = True) -> str:
    """A command word, with a late value read from what an earlier step wrote (left as is when not strict)."""
    if not isinstance(arg, Late):
        return arg
    try:
        if arg is RESULTS:
            return staging_file(step).as_posix()
        source = root / arg.source
        if arg.what == "dense_score":
            rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
            return str(next(r["score"] for r in rows if r["method"] == "dense" and r.get("variant", "dense") == "dense"))
        if arg.what == "budgets":  # the full model and every budget the search found a profile for
            profiles = json.loads(source.read_text())["profiles"]
            return ",".join(["1"] + [f"{e['speedup']:g}" for e in profiles])
    except (OSError, StopIteration, KeyError, ValueError) as e:
        if strict:
            raise PlanError(f"{step.name}: cannot read {arg} ({type(e).__name__}: {e}); run the step that writes it") from None
        return str(arg)
    raise PlanError(f"{step.name}: unknown late value {arg}")


def run(steps: list[Step], chosen: list[Step], ctx: Context, named: bool = False) -> None:
    """Check every command, then run the chosen steps not done and what they need, in plan order; stop at the
    first failure."""
    for step in with_needs(steps, chosen):
        for argv in step.commands:
            check_command(argv)
    todo = pending(steps, chosen, ctx.root, ctx.force, named)
    ctx.log(f"{len(todo)} of {len(with_needs(steps, chosen))} steps to run" + (" (dry run)" if ctx.dry_run else ""))
    for step in todo:
        ctx.log(f"run   {step.name}" + (f"  ({step.note})" if step.note else ""))
        run_step(step, ctx)


def run_step(step: Step, ctx: Context) -> None:
    staged = ctx.root / staging_file(step)
    if step.rows is not None and not step.resumes_rows and not ctx.dry_run:
        staged.unlink(missing_ok=True)  # rows of an interrupted attempt: measured again
    for argv in step.commands:
        words = [resolve(a, step, ctx.root, strict=not ctx.dry_run) for a in argv]
        ctx.log("      " + shlex.join(_pinning(step, ctx) + words))
        if ctx.dry_run:
            continue
        started = time.monotonic()
        code = subprocess.run(_pinning(step, ctx) + _argv(words), cwd=ctx.root, env=_env(ctx)).returncode
        if code != 0:
            raise PlanError(f"{step.name} failed (exit {code}) after {time.monotonic() - started:.0f} s: {shlex.join(words)}")
    if ctx.dry_run:
        return
    if step.rows is not None:
        merge_rows(step, staged, ctx.root)
    stamp = {"step": step.name, "commands": [shlex.join(map(str, c)) for c in step.commands], "commit": source_commit(ctx),
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for out in step.outputs:
        from leanbert import atomic

        atomic.write_json(ctx.root / out / STAMP, stamp)


def merge_rows(step: Step, staged: Path, root: Path) -> None:
    """Move a finished step's staged rows into its results file (one atomic replace)."""
    from leanbert import atomic

    new = [json.loads(line) for line in staged.read_text().splitlines() if line.strip()] if staged.is_file() else []
    if not new:
        raise PlanError(f"{step.name} wrote no rows (expected in {staged})")
    variants = step.rows.variants
    stray = set() if variants is None else {r.get("variant") for r in new} - set(variants)
    if stray:
        raise PlanError(f"{step.name} wrote rows of variants it does not declare: {sorted(map(str, stray))} (kept in {staged})")
    target, here = root / step.rows.file, staged.relative_to(root).as_posix()
    kept = [] if variants is None or not target.is_file() else [
        line for line in target.read_text().splitlines() if line.strip() and json.loads(line).get("variant") not in variants]
    for row in new:
        if isinstance(row.get("command"), str):  # the rows say where they went, not the staging file
            row["command"] = row["command"].replace(here, step.rows.file)
        row["plan_step"] = step.name
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(target, "".join(line + "\n" for line in kept) + "".join(json.dumps(row) + "\n" for row in new))
    staged.unlink()


def _pinning(step: Step, ctx: Context) -> list[str]:
    return ["taskset", "-c", str(ctx.core)] if ctx.core is not None and step.pin else []


def _argv(words: list[str]) -> list[str]:
    """`leanbert ...` and `python -m benchmarks....` with this interpreter."""
    return [sys.executable, "-m", "leanbert", *words[1:]] if words[0] == "leanbert" else [sys.executable, *words[1:]]


def _env(ctx: Context) -> dict:
    src = ctx.src or ctx.root / "src"
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ctx.root)])}


def source_commit(ctx: Context) -> str | None:
    src = ctx.src or ctx.root / "src"
    out = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or None
