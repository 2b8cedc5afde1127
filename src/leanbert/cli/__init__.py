"""The `leanbert` command line: one module per command group, each thin (parse, call, print). Errors in the
user's input print as one line, no traceback."""
from __future__ import annotations

import sys

import typer

from ..errors import LeanbertError
from .app import app
from . import train  # noqa: F401, I001  (each module registers its commands on `app`; `--help` lists them in this order)
from . import peers  # noqa: F401
from . import evaluate  # noqa: F401
from . import deploy  # noqa: F401
from .backbone import backbone_app
from .elastic import elastic as _elastic_command, elastic_search as _elastic_search_command
from .embed import embed as _embed_command, embed_distill as _embed_distill_command
from .predict import predict as _predict_command

app.command("elastic")(_elastic_command)
app.command("elastic-search")(_elastic_search_command)
app.command("embed")(_embed_command)
app.command("embed-distill")(_embed_distill_command)
app.command("predict")(_predict_command)
app.add_typer(backbone_app, name="backbone")
from . import study  # noqa: E402, F401

INTERRUPTED = "interrupted: work finished before it is kept (rows already appended; training resumes from its last saved state)"


def main(argv: list[str] | None = None) -> None:
    """The `leanbert` entry point. Errors in the user's input, ours or the option parser's, print as one
    line `error: ...` with exit code 2; Ctrl-C prints one line and exits 130."""
    usage_errors, aborts = _parser_exceptions()
    try:
        code = app(args=argv, prog_name="leanbert", standalone_mode=False)
    except LeanbertError as e:
        _exit(f"error: {e}", 2)
    except usage_errors as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `leanbert` alone: the help, not an error line
            e.show()
            sys.exit(e.exit_code)
        where = f" (see {e.ctx.command_path} --help)" if getattr(e, "ctx", None) else ""
        _exit(f"error: {e.format_message()}{where}", e.exit_code)
    except (KeyboardInterrupt, *aborts):
        _exit(INTERRUPTED, 130)
    if code == 130:  # typer turns a KeyboardInterrupt inside a command into Exit(130)
        _exit(INTERRUPTED, 130)
    sys.exit(code if isinstance(code, int) else 0)


def _parser_exceptions() -> tuple[tuple, tuple]:
    """The option parser's usage-error and abort classes: typer's own (newer typer vendors click) and click's."""
    usage, aborts = [getattr(typer, "TyperException", None)], [getattr(typer, "Abort", None)]
    try:
        import click

        usage.append(click.ClickException)
        aborts.append(click.Abort)
    except ImportError:
        pass
    return tuple(c for c in usage if c), tuple(c for c in aborts if c)


def _exit(line: str, code: int):
    typer.echo(" ".join(line.split()), err=True)  # one line, whatever the message held
    sys.exit(code)
