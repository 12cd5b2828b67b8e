"""The `websys` command. Every error is one line on stderr; exit 2 means bad input."""

from __future__ import annotations

import os
import sys

import typer

from websys.cli import backup as backup_command
from websys.cli import diff as diff_command
from websys.cli import plan as plan_command
from websys.cli import policy as policy_command
from websys.cli import render as render_command

app = typer.Typer(
    name="websys",
    help="Plan, render, check and back up the WebSys platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("plan")(plan_command.plan)
app.command("diff")(diff_command.diff)
app.command("backup")(backup_command.backup)
app.command("restore")(backup_command.restore)
app.command("verify-backup")(backup_command.verify_backup)
app.command("policy")(policy_command.policy)
app.command("render")(render_command.render)


@app.callback()
def _root() -> None:
    """Plan, render, check and back up the WebSys platform."""


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if os.environ.get("WEBSYS_DEBUG"):
            raise
        print(f"websys: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
