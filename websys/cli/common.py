"""What several subcommands share: locating a stack's config and failing with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from websys.plan import PROJECT_DIR
from websys.settings import ENVIRONMENTS, SECRET_KEYS, SettingsError, parse_settings, stack_file_name
from websys.settings.loader import NAMESPACE
from websys.settings.model import Settings
from websys.stackfile import StackConfig, StackFileError, apply_override, read_stack_file

EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(code)


def load_stack_config(
    stack: str,
    sets: list[str] | None = None,
    secrets: list[str] | None = None,
    stack_file: Path | None = None,
) -> tuple[StackConfig, Settings]:
    """The stack file with overrides applied, and the settings it gives; exit 2 on bad input."""
    if stack_file is None and stack not in ENVIRONMENTS:
        fail(f"websys: unknown stack {stack!r}: expected one of {', '.join(ENVIRONMENTS)} (or pass --stack-file)")
    path = stack_file or PROJECT_DIR / stack_file_name(stack)
    try:
        config = read_stack_file(path)
        for assignment in sets or []:
            apply_override(config, assignment, secret=False, flag="--set")
        for assignment in secrets or []:
            apply_override(config, assignment, secret=True, flag="--secret")
        settings = parse_settings(stack, config.engine_form(), sorted(config.secret_keys), source=config.source)
    except StackFileError as error:
        fail(str(error))
    except SettingsError as error:
        # A key set on the command line is named by its option, not by the stack file.
        source = config.source_for(error.key)
        reason = error.reason
        if error.key in SECRET_KEYS and source.startswith("--set "):
            reason = f"is a secret; pass it with --secret {error.key}=..., never --set"
        fail(f"{source}: {NAMESPACE}:{error.key}: {reason}")
    return config, settings


def read_plan_file(path: Path) -> dict[str, Any]:
    """A plan written by `websys plan --json`; exit 2 with one line if it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{path}: cannot read: {error.strerror}")
    except json.JSONDecodeError as error:
        fail(f"{path}: not a plan: invalid JSON at line {error.lineno}: {error.msg}")
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        fail(f"{path}: resources: not a plan (expected the output of `websys plan --json`)")
    return document
