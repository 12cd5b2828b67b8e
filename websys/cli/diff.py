"""`websys diff`: what changes between two recorded plans, as Markdown for a pull request."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from websys.cli.common import read_plan_file
from websys.diff import COMMENT_LIMIT, diff_plans, render_markdown


def diff(
    before: Annotated[Path, typer.Argument(help="The plan before the change (websys plan --json).")],
    after: Annotated[Path, typer.Argument(help="The plan after the change.")],
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1000, help="Trim the Markdown to this many characters.")
    ] = COMMENT_LIMIT,
) -> None:
    """Print resources added, removed and changed, with property paths; data-holding ones flagged."""
    sys.stdout.write(render_markdown(diff_plans(read_plan_file(before), read_plan_file(after)), limit=max_chars))
