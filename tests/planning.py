"""Test helpers: recorded plans (in process, through the same recorder as `websys plan`) and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websys.plan import PROJECT_DIR, Plan, PlannedResource, record_plan
from websys.settings import stack_file_name
from websys.stackfile import apply_override, read_stack_file

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
WEBSYS = [str(Path(sys.executable).with_name("websys"))]


def plan_for(stack: str, sets: Sequence[str] = (), secrets: Sequence[str] = ()) -> Plan:
    config = read_stack_file(PROJECT_DIR / stack_file_name(stack))
    for assignment in sets:
        apply_override(config, assignment, secret=False, flag="--set")
    for assignment in secrets:
        apply_override(config, assignment, secret=True, flag="--secret")
    return record_plan(stack, config)


def containers(plan: Plan, service: str | None = None, color: str | None = None) -> list[PlannedResource]:
    found = []
    for resource in plan.of_type(CONTAINER):
        labels = {label["label"]: label["value"] for label in resource.inputs.get("labels", [])}
        if service is not None and labels.get("com.websys.service") != service:
            continue
        if color is not None and labels.get("com.websys.color") != color:
            continue
        found.append(resource)
    return found


def env_of(container: PlannedResource) -> dict[str, str]:
    """Plain variables by name; secret ones appear as the redaction marker, which has no '='."""
    env: dict[str, str] = {}
    for item in container.inputs.get("envs", []):
        key, sep, value = str(item).partition("=")
        if sep:
            env[key] = value
    return env


def run_websys(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEBSYS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
        check=False,
    )


def network_names(container: PlannedResource) -> list[Any]:
    return [network["name"] for network in container.inputs.get("networksAdvanced", [])]
