"""`websys plan`: the program's resources as the engine would receive them, without the engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from websys.cli.common import fail, load_stack_config
from websys.plan import record_plan
from websys.plan.summary import summarize
from websys.settings import SettingsError


def plan(
    stack: Annotated[str, typer.Argument(help="development, staging or production")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON plan to FILE.")] = None,  # noqa: UP045 typer needs Optional
    set_values: Annotated[
        Optional[list[str]], typer.Option("--set", help="K=V: set websys config K (dotted path; V is YAML).")  # noqa: UP045
    ] = None,
    secret_values: Annotated[
        Optional[list[str]], typer.Option("--secret", help="K=V: set websys config K as a secret.")  # noqa: UP045
    ] = None,
    stack_file: Annotated[Optional[Path], typer.Option("--stack-file", help="Read config from FILE.")] = None,  # noqa: UP045
) -> None:
    """Run the program under Pulumi's mock runtime and print the plan."""
    if out is not None and out.is_dir():
        fail(f"websys plan: --out {out}: is a directory; name a file, e.g. --out {out / stack}.json")
    if out is not None and out.parent.exists() and not out.parent.is_dir():
        fail(f"websys plan: --out {out}: {out.parent} is not a directory")
    config, _settings = load_stack_config(stack, set_values, secret_values, stack_file)
    try:
        recorded = record_plan(stack, config)
    except SettingsError as error:
        fail(str(error))
    except Exception as error:  # noqa: BLE001 a program failure is reported, not dumped
        fail(f"websys plan {stack}: the program failed: {type(error).__name__}: {error}", code=1)
    for level, message in recorded.diagnostics:
        if level in ("warning", "error"):
            print(f"{level}: {message}", file=sys.stderr)
    text = recorded.dumps()
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as error:
            fail(f"websys plan: --out {out}: {error.strerror or error}")
    sys.stdout.write(text if json_output else summarize(recorded))
