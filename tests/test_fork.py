"""A team that forks the repository and sets its own values in the stack files keeps a green suite.

The test copies the repository (the files git knows), changes replicas, the active color, images
and sizes in the committed `Pulumi.<stack>.yaml`, refreshes the plan snapshots as `make plans` does,
and runs on the copy every test that is not marked `live`: every test that reads a stack file or a
plan (plans, policy, render, settings, diff) and any new one by default. Live tests (marked `live`:
real nginx, PostgreSQL, Redis, Prometheus, S3) read only the tests' own stack files under
tests/stacks, which a fork does not change, so running them again would prove nothing and would
double the suite's time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.planning import write_stack_file
from websys.plan import PROJECT_DIR
from websys.settings import ENVIRONMENTS, stack_file_name

# The nested run is bounded: about two minutes on 2 idle cores, several times that under load.
NESTED_TIMEOUT = 900
pytestmark = [pytest.mark.fork, pytest.mark.timeout(NESTED_TIMEOUT + 120)]

IMAGES = {
    "frontend": "registry.example.org/team/web:2.4.1",
    "backend": "registry.example.org/team/api:2.4.1",
}
# What an operator might set: other replica counts, traffic on green (blue idle or still running),
# their own images, other sizes.
EDITS = {
    "development": [
        "frontend.green.replicas=1",
        "backend.green.replicas=2",
        "deploy.activeColor=green",
        "backend.blue.replicas=0",
        "frontend.blue.replicas=0",
        *[f"{service}.green.image={image}" for service, image in IMAGES.items()],
        "backend.resources.memoryMb=768",
        "postgres.memoryMb=2048",
    ],
    "staging": [
        "backend.blue.replicas=3",
        "frontend.blue.replicas=2",
        *[f"{service}.blue.image={image}" for service, image in IMAGES.items()],
        "frontend.resources.cpus=1",
        "redis.memoryMb=1024",
        "redis.maxmemoryMb=512",
    ],
    "production": [
        "backend.green.replicas=4",
        "frontend.green.replicas=3",
        "deploy.activeColor=green",
        *[f"{service}.green.image={image}" for service, image in IMAGES.items()],
        "backend.resources.memoryMb=2048",
        "postgres.replicas=2",
        "postgres.memoryMb=8192",
    ],
}


def copy_repository(target: Path) -> None:
    """The files git tracks, and new ones it does not ignore (so an uncommitted test counts too)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = PROJECT_DIR / relative
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)


def test_a_fork_with_its_own_stack_values_keeps_a_green_suite(tmp_path: Path) -> None:
    fork = tmp_path / "fork"
    copy_repository(fork)
    for stack, sets in EDITS.items():
        write_stack_file(fork, stack, sets, source=fork / stack_file_name(stack))
    # The copy's own code, not this checkout's: PYTHONPATH comes before the editable install.
    env = {**os.environ, "PYTHONPATH": f"{fork}{os.pathsep}{fork / 'policy'}", "PYTHONDONTWRITEBYTECODE": "1"}
    websys = [sys.executable, "-c", "from websys.cli import main; main()"]
    for stack in ENVIRONMENTS:  # what `make plans` runs
        out = fork / "plans" / f"{stack}.json"
        done = subprocess.run(
            [*websys, "plan", stack, "--json", "--out", str(out)],
            cwd=fork,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    production = json.loads((fork / "plans" / "production.json").read_text())
    assert production["outputs"]["activeColor"] == "green"
    assert len(production["outputs"]["backendContainers"]["green"]) == 4
    assert (fork / "plans" / "staging.json").read_text() != (PROJECT_DIR / "plans" / "staging.json").read_text()

    nested = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile",
            "-m", "not live and not fork", "tests",
        ],
        cwd=fork,
        env=env,
        capture_output=True,
        text=True,
        timeout=NESTED_TIMEOUT,
        check=False,
    )  # fmt: skip
    summary = nested.stdout.strip().splitlines()[-1] if nested.stdout.strip() else nested.stderr
    assert nested.returncode == 0, nested.stdout[-6000:] + nested.stderr[-2000:]
    assert " passed" in summary, summary
    assert "skipped" not in summary, summary
