"""`websys policy`: the policy pack on a recorded plan, offline, exactly as the engine would run it.

The stack the plan is checked as (its enforcement levels, exemptions and expected values, and the
PULUMI_STACK the pack sees) is the one the user names: STACK, or `--stack` with `--plan` (default
production, the strictest). The plan's own `stack` field is never read: it is part of the change.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from websys.cli.common import fail, load_stack_config, read_plan_file
from websys.plan import PROJECT_DIR, record_plan
from websys.policy_client import PolicyRunError, Violation, read_pack_config, run_pack
from websys.settings import ENVIRONMENTS

PACK_DIR = PROJECT_DIR / "policy"
EXIT_MANDATORY = 1
STRICTEST_STACK = "production"


def _read_plan(path: Path) -> dict[str, Any]:
    try:
        return read_plan_file(path)
    except RecursionError:
        fail(f"{path}: not a plan: JSON nested too deeply to read")


def _choose(
    stack: str | None, plan_file: Path | None, stack_option: str | None, stack_file: Path | None, custom: bool
) -> str:
    """The stack to check as, from the command line only."""
    if plan_file is not None:
        if stack is not None:
            fail("websys policy: give a STACK or --plan FILE, not both")
        if stack_file is not None:
            fail("websys policy: --stack-file plans a stack; with --plan FILE name the stack with --stack")
        chosen = stack_option or STRICTEST_STACK
    else:
        if stack is None:
            fail("websys policy: give a STACK or --plan FILE")
        if stack_option is not None and stack_option != stack:
            fail(f"websys policy: STACK {stack!r} and --stack {stack_option!r} differ")
        chosen = stack
    if chosen not in ENVIRONMENTS and not custom and stack_file is None:
        fail(f"websys policy: unknown stack {chosen!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return chosen


def _text(stack: str, violations: list[Violation], by_urn: dict[str, str]) -> str:
    if not violations:
        return f"{stack}: no policy violations\n"
    lines = [f"{stack}: {len(violations)} policy violation(s)"]
    for v in violations:
        where = by_urn.get(v.urn, "stack")
        lines.append(f"  {v.level.upper():9} {v.policy:32} {where}: {v.message}")
    return "\n".join(lines) + "\n"


def policy(
    stack: Annotated[Optional[str], typer.Argument(help="development, staging or production")] = None,  # noqa: UP045
    plan_file: Annotated[Optional[Path], typer.Option("--plan", help="Check this plan (websys plan --json).")] = None,  # noqa: UP045
    stack_option: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--stack", help="With --plan: the stack to check it as (default: production, the strictest)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print violations as JSON.")] = False,
    set_values: Annotated[
        Optional[list[str]], typer.Option("--set", help="K=V: set websys config K before planning.")  # noqa: UP045
    ] = None,
    stack_file: Annotated[
        Optional[Path], typer.Option("--stack-file", help="Plan STACK from FILE instead of Pulumi.<STACK>.yaml.")  # noqa: UP045
    ] = None,
    policy_config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--policy-config", help="Pack config (default: policy/config/<stack>.json)."),
    ] = None,
) -> None:
    """Run the policy pack on a stack's plan; exit 1 on a mandatory violation."""
    checked_as = _choose(stack, plan_file, stack_option, stack_file, policy_config is not None)
    if plan_file is not None:
        if set_values:
            fail("websys policy: --set changes a stack's config; it cannot change a recorded --plan FILE")
        plan = _read_plan(plan_file)
    else:
        config, _ = load_stack_config(checked_as, set_values, None, stack_file)
        plan = record_plan(checked_as, config).to_json()
    config_path = policy_config or PACK_DIR / "config" / f"{checked_as}.json"
    try:
        pack_config = read_pack_config(config_path) if policy_config or config_path.exists() else {}
        violations = run_pack(
            plan,
            PACK_DIR,
            pack_config,
            os.path.relpath(config_path, PROJECT_DIR),
            stack=checked_as,
            plan_source=str(plan_file or "plan"),
        )
    except PolicyRunError as error:
        fail(str(error), code=2)
    if json_output:
        document = {"stack": checked_as, "violations": [v.to_json() for v in violations]}
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        names = {r["urn"]: _display(r) for r in plan.get("resources", []) if isinstance(r, dict) and "urn" in r}
        sys.stdout.write(_text(checked_as, violations, names))
    if any(v.level == "mandatory" for v in violations):
        raise typer.Exit(EXIT_MANDATORY)


def _display(resource: dict[str, Any]) -> str:
    return str(resource.get("name") or str(resource["urn"]).rsplit("::", 1)[-1])
