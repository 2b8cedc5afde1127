"""`python -m benchmarks plan | run | files`: list the benchmark plan, run part of it (resumable), or list the
committed results files and the steps that produce them. docs/benchmarks.md explains the plan."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # the plan reads this checkout's recipes (leanbert.training.recipes)
    sys.path.insert(0, str(ROOT / "src"))

from benchmarks.execute import Context, is_done, run, select, with_needs  # noqa: E402
from benchmarks.plan import build  # noqa: E402
from benchmarks.steps import Options, PlanError, render  # noqa: E402

LEGEND = """\
# Each step runs as `[taskset -c CORE] python -m leanbert ...` (or `python -m benchmarks.MODULE ...`) from the
# repository root, PYTHONPATH=SRC. {results}: the step's rows go to a staging file, then into the results file
# shown. {dense_score:FILE}: the dense row's score in FILE; {budgets:FILE}: 1 and the budgets an elastic
# search.json holds -- both read when the step runs. [done] steps are skipped by `run` (--force re-runs them);
# a [todo] training step runs only when a step that needs it runs (or --only-step names it)."""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (("plan", "list every step's command lines, in order"), ("run", "run the selected steps not done"),
                       ("files", "each results file and the steps that write it")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--only", action="append", default=[], metavar="PART",
                       help="a part (mrpc, ablation/mrpc, speed/onnx, ...), a folder of parts (sparse, speed), or a "
                            "results file; repeatable")
        p.add_argument("--only-step", action="append", default=[], metavar="NAME",
                       help="step names or glob patterns (mrpc:acc, 'ltp-*'); repeatable")
        p.add_argument("--data-dir", default=os.environ.get("LEANBERT_GLUE_DIR", "../shared/data/glue"))
        p.add_argument("--core", type=int, default=None, help="pin every step to this CPU core (taskset -c)")
    run_parser = sub.choices["run"]
    run_parser.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    run_parser.add_argument("--force", action="store_true", help="re-run selected steps that are done")
    run_parser.add_argument("--src", type=Path, default=None, help="leanbert source the commands import "
                                                                  "(default: ./src), e.g. a snapshot's src")
    return ap


def show_plan(steps, out=print) -> None:
    out(LEGEND)
    part = None
    for step in steps:
        if step.part != part:
            part = step.part
            out(f"\n## {part} -> results/{part}.jsonl")
        made = [step.rows.file] if step.rows else []
        out(f"[{'done' if is_done(step) else 'todo'}] {step.name}  -> {', '.join(made + list(step.outputs))}"
            + (f"  # {step.note}" if step.note else ""))
        for argv in step.commands:
            out("    " + render(argv, step.rows.file if step.rows else None))


def show_files(steps, out=print) -> None:
    files: dict[str, list[str]] = {}
    for step in steps:
        if step.rows:
            files.setdefault(step.rows.file, []).append(step.name)
    for file, names in files.items():
        out(f"{file}{'' if (ROOT / file).is_file() else '  (not written yet)'}: {' '.join(names)}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        steps = build(Options(args.data_dir, args.core))
        chosen = select(steps, args.only, args.only_step)
        if args.command == "plan":
            show_plan(with_needs(steps, chosen))
        elif args.command == "files":
            show_files(chosen)
        else:
            ctx = Context(core=args.core, src=args.src, dry_run=args.dry_run, force=args.force)
            run(steps, chosen, ctx, named=bool(args.only_step))
    except PlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the step's rows stay in its staging file; the results file is unchanged", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
