"""Whether a plan command parses, without running it: the leanbert subcommand exists and takes the options used,
with values of the right type and every required option given; a benchmarks module's argparse parser accepts
its arguments. `run` checks every selected step this way before the first one starts."""
from __future__ import annotations

import contextlib
import importlib
import io

from .steps import Late, PlanError

SAMPLE = {"dense_score": "86.0", "budgets": "1,2", "results": "runs/plan/rows/check.jsonl"}  # for late values


def check_command(argv) -> None:
    """Raise PlanError saying what does not parse."""
    args = [SAMPLE[a.what] if isinstance(a, Late) else a for a in argv]
    if args[0] == "leanbert":
        _check_leanbert(args[1:])
    elif args[:2] == ["python", "-m"] and args[2].startswith("benchmarks."):
        _check_module(args[2], args[3:])
    else:
        raise PlanError(f"not a leanbert or benchmarks command: {' '.join(args)}")


def _subcommand(args: list[str]):
    """The click command `leanbert ARGS` names, its path, and the arguments left for it."""
    import typer.main

    from leanbert.cli import app

    cmd, path = typer.main.get_command(app), ["leanbert"]
    while hasattr(cmd, "commands"):  # a group: the next word names a subcommand
        if not args or args[0] not in cmd.commands:
            raise PlanError(f"{' '.join(path)} has no subcommand {args[0] if args else '(none given)'!r}")
        path.append(args[0])
        cmd, args = cmd.commands[args[0]], args[1:]
    return cmd, " ".join(path), args


def _check_leanbert(args: list[str]) -> None:
    cmd, path, args = _subcommand(args)
    ctx = cmd.context_class(cmd, info_name=path)
    try:
        values, extra, _ = cmd.make_parser(ctx).parse_args(list(args))
        if extra:
            raise PlanError(f"{path}: unexpected arguments {extra}")
        for param in cmd.params:
            if param.name in values:
                _convert(param, ctx, values[param.name])
            elif param.required:
                raise PlanError(f"{path}: missing {param.opts[0]}")
    except PlanError:
        raise
    except Exception as e:  # noqa: BLE001 - the parser's usage errors, whatever class this click version uses
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        raise PlanError(f"{path}: {message}") from None


def _convert(param, ctx, value):
    """The value as the command would receive it (its type only: no callback runs)."""
    if isinstance(value, bool):
        return value
    if hasattr(param, "get_runtime_param"):  # typer with its own parameter runtime
        return param.get_runtime_param().coerce(value, param=param, ctx=ctx)
    return param.type_cast_value(ctx, value)  # click's


def _check_module(module: str, args: list[str]) -> None:
    try:
        parser = importlib.import_module(module).build_parser()
    except (ImportError, AttributeError) as e:
        raise PlanError(f"python -m {module}: {e}") from None
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(args)
    except SystemExit:
        raise PlanError(f"python -m {module}: {err.getvalue().strip().splitlines()[-1]}") from None
