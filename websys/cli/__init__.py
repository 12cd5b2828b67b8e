"""The `websys` command. Every error is one line on stderr; exit 2 means bad input."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable

import typer

# typer vendors click (typer._click); its usage errors are this class, not the `click` package's.
from typer._click.exceptions import UsageError

EXIT_BAD_INPUT = 2

# name -> (module under websys.cli, function). Only the invoked command's module is imported, so
# `websys plan` does not load the backup and policy commands (rich, and what they import).
COMMANDS = {
    "plan": ("plan", "plan"),
    "diff": ("diff", "diff"),
    "backup": ("backup", "backup"),
    "restore": ("backup", "restore"),
    "verify-backup": ("backup", "verify_backup"),
    "policy": ("policy", "policy"),
    "render": ("render", "render"),
}


def build_app(names: Iterable[str] = COMMANDS) -> typer.Typer:
    app = typer.Typer(
        name="websys",
        help="Plan, render, check and back up the WebSys platform.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for name in names:
        module, function = COMMANDS[name]
        app.command(name)(getattr(importlib.import_module(f"websys.cli.{module}"), function))
    app.callback()(_root)  # a group even with one command: `websys plan ...` keeps its name
    return app


def _root() -> None:
    """Plan, render, check and back up the WebSys platform."""


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    app = build_app([command] if command in COMMANDS else COMMANDS)
    try:
        # Not standalone: click's usage errors come back here, to be told in one line.
        code = app(standalone_mode=False)
    except UsageError as error:
        where = f"websys {error.ctx.info_name}" if error.ctx and error.ctx.info_name != "websys" else "websys"
        print(f"{where}: {error.format_message()} (see {where} --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except Exception as error:
        if os.environ.get("WEBSYS_DEBUG"):
            raise
        print(f"websys: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
