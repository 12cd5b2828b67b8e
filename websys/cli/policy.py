"""`websys policy`: the policy pack on a recorded plan, offline, exactly as the engine would run it."""

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

PACK_DIR = PROJECT_DIR / "policy"
EXIT_MANDATORY = 1


def _load_plan(stack: str | None, plan_file: Path | None, sets: list[str] | None) -> dict[str, Any]:
    if plan_file is not None:
        if stack is not None:
            fail("websys policy: give a STACK or --plan FILE, not both")
        return read_plan_file(plan_file)
    if stack is None:
        fail("websys policy: give a STACK or --plan FILE")
    config, _ = load_stack_config(stack, sets)
    return record_plan(stack, config).to_json()


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
    json_output: Annotated[bool, typer.Option("--json", help="Print violations as JSON.")] = False,
    set_values: Annotated[
        Optional[list[str]], typer.Option("--set", help="K=V: set websys config K before planning.")  # noqa: UP045
    ] = None,
    policy_config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--policy-config", help="Pack config (default: policy/config/<stack>.json)."),
    ] = None,
) -> None:
    """Run the policy pack on a stack's plan; exit 1 on a mandatory violation."""
    plan = _load_plan(stack, plan_file, set_values)
    stack_name = str(plan.get("stack", stack or ""))
    config_path = policy_config or PACK_DIR / "config" / f"{stack_name}.json"
    try:
        pack_config = read_pack_config(config_path) if policy_config or config_path.exists() else {}
        violations = run_pack(plan, PACK_DIR, pack_config, os.path.relpath(config_path, PROJECT_DIR))
    except PolicyRunError as error:
        fail(str(error), code=2)
    if json_output:
        document = {"stack": stack_name, "violations": [v.to_json() for v in violations]}
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        names = {r["urn"]: r["name"] for r in plan.get("resources", [])}
        sys.stdout.write(_text(stack_name, violations, names))
    if any(v.level == "mandatory" for v in violations):
        raise typer.Exit(EXIT_MANDATORY)
