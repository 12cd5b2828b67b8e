"""`websys diff`: what changes between two recorded plans, as Markdown for a pull request."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from websys.cli.common import fail
from websys.diff import COMMENT_LIMIT, diff_plans, render_markdown


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{path}: cannot read: {error.strerror}")
    except json.JSONDecodeError as error:
        fail(f"{path}: not a plan: invalid JSON at line {error.lineno}: {error.msg}")
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        fail(f"{path}: resources: not a plan (expected the output of `websys plan --json`)")
    return document


def diff(
    before: Annotated[Path, typer.Argument(help="The plan before the change (websys plan --json).")],
    after: Annotated[Path, typer.Argument(help="The plan after the change.")],
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1000, help="Trim the Markdown to this many characters.")
    ] = COMMENT_LIMIT,
) -> None:
    """Print resources added, removed and changed, with property paths; data-holding ones flagged."""
    sys.stdout.write(render_markdown(diff_plans(_read_plan(before), _read_plan(after)), limit=max_chars))
