"""Test helpers: the tests' stack files, recorded plans (in process, through the same recorder as
`websys plan`) and the CLI.

Tests own their fixtures. The committed `Pulumi.<stack>.yaml` are the operators' data: tests check
only that they load, pass the policy pack and match their plan snapshots (`committed_plan`). Every
other test reads the tests' own stack files, `tests/stacks/Pulumi.<stack>.yaml` (`stack_file`), with
`--set`-style overrides for the values the case needs (`stack_config`, `plan_for`), or writes a
derived one where a command needs a file (`write_stack_file`)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from websys.cli import main as cli_main
from websys.plan import PROJECT_DIR, Plan, PlannedResource, record_plan
from websys.settings import ENVIRONMENTS, Settings, parse_settings, stack_file_name
from websys.stackfile import StackConfig, apply_override, read_stack_file

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
WEBSYS = [str(Path(sys.executable).with_name("websys"))]


TEST_STACKS = Path(__file__).with_name("stacks")
# Whether the running test may read the committed stack files and plans (tests/conftest.py sets it
# from the `committed` marker; outside a test, e.g. in the benchmarks, they may).
committed_allowed = True
READS_A_STACK = ("plan", "render", "policy")


def stack_file(stack: str) -> Path:
    """The tests' own stack file of `stack` (the name is the committed one's, as messages cite it)."""
    return TEST_STACKS / stack_file_name(stack)


def stack_config(
    stack: str, sets: Sequence[str] = (), secrets: Sequence[str] = (), path: Path | None = None
) -> StackConfig:
    """The tests' stack file (or `path`) with `--set`/`--secret`-style overrides applied."""
    config = read_stack_file(path or stack_file(stack))
    for assignment in sets:
        apply_override(config, assignment, secret=False, flag="--set")
    for assignment in secrets:
        apply_override(config, assignment, secret=True, flag="--secret")
    return config


def stack_settings(stack: str, sets: Sequence[str] = (), secrets: Sequence[str] = ()) -> Settings:
    """The settings of the tests' stack file with overrides, through the real loader."""
    config = stack_config(stack, sets, secrets)
    return parse_settings(stack, config.engine_form(), sorted(config.secret_keys), source=config.source)


def write_stack_file(directory: Path, stack: str, sets: Sequence[str] = (), source: Path | None = None) -> Path:
    """A stack file derived from the tests' one (or `source`) with `sets` (`K=V`, V as YAML) written
    into it, for commands that read a file (`--stack-file`); named like the committed one, in
    `directory`. Comments are not kept."""
    document = yaml.safe_load((source or stack_file(stack)).read_text(encoding="utf-8"))
    for assignment in sets:
        key, _, value = assignment.partition("=")
        node = document["config"]
        first, *rest = key.split(".")
        path = [f"websys:{first}", *rest]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(value)
    directory.mkdir(parents=True, exist_ok=True)
    written = directory / stack_file_name(stack)
    written.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return written


def plan_for(stack: str, sets: Sequence[str] = (), secrets: Sequence[str] = ()) -> Plan:
    """The recorded plan of the tests' stack file with overrides."""
    return record_plan(stack, stack_config(stack, sets, secrets))


def committed_plan(stack: str) -> Plan:
    """The recorded plan of the committed (operators') stack file: only for checks that must hold
    for any operator's values (it loads, passes policy, matches its snapshot)."""
    return record_plan(stack, read_stack_file(PROJECT_DIR / stack_file_name(stack)))


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


def _guard_committed(args: Sequence[str]) -> None:
    if args and args[0] in READS_A_STACK and not committed_allowed:
        named = len(args) > 1 and args[1] in ENVIRONMENTS
        assert not named or "--stack-file" in args, (
            f"websys {' '.join(args[:2])} reads the committed stack file: pass --stack-file (tests/stacks), "
            "or mark the test committed"
        )


def run_websys(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`websys ARGS` as a user runs it: the installed command, in its own process."""
    _guard_committed(args)
    return subprocess.run(
        [*WEBSYS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
        check=False,
    )


def websys_in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`websys ARGS` through the command's own entry point (websys.cli.main) in this process, with
    its exit code, stdout and stderr: the same code as `run_websys` without a new interpreter that
    imports the program again (about 0.8 s of CPU a call). For tests that run the command many
    times over (the policy cases); a subprocess the command starts (the policy pack) is still one."""
    _guard_committed(args)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        mock.patch.dict(os.environ, env or {}),
        mock.patch.object(sys, "argv", ["websys", *args]),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            cli_main()
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
    return subprocess.CompletedProcess([*WEBSYS, *args], code, out.getvalue(), err.getvalue())


def network_names(container: PlannedResource) -> list[Any]:
    return [network["name"] for network in container.inputs.get("networksAdvanced", [])]
