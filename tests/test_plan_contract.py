"""The `websys plan` contract: secrets redacted, output byte-identical, no deprecation warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.planning import RANDOM_PASSWORD, run_websys, stack_file
from websys.plan import SECRET, Plan


def test_generated_passwords_are_secret_outputs(stack_plans: dict[str, Plan]) -> None:
    plan = stack_plans["production"]
    passwords = plan.of_type(RANDOM_PASSWORD)
    assert {p.name for p in passwords} == {
        "secrets-database-password",
        "secrets-jwt-secret",
        "secrets-replication-password",
        "secrets-redis-password",
        "secrets-grafana-admin-password",
        "secrets-backup-password",
        "secrets-backup-manifest-key",
    }
    for password in passwords:
        assert "result" in password.options.additional_secret_outputs


def test_a_secret_passed_on_the_command_line_never_appears(tmp_path: Path) -> None:
    value = "Zx9-very-distinctive-secret-Qq1"
    out = tmp_path / "plan.json"
    result = run_websys(
        "plan",
        "production",
        "--stack-file",
        str(stack_file("production")),
        "--json",
        "--out",
        str(out),
        "--secret",
        f"jwtSecret={value}",
        "--secret",
        f"databasePassword={value}",
    )
    assert result.returncode == 0, result.stderr
    for text in (result.stdout, result.stderr, out.read_text()):
        assert value not in text
    plan = json.loads(result.stdout)
    names = {r["name"] for r in plan["resources"]}
    assert "secrets-jwt-secret" not in names, "a secret set in config is used, not generated"
    backend = next(r for r in plan["resources"] if r["name"] == "backend-blue-1")
    assert backend["inputs"]["envs"].count(SECRET) == 3


def test_plan_json_shape_and_byte_identical_runs(tmp_path: Path) -> None:
    staging = ("plan", "staging", "--stack-file", str(stack_file("staging")), "--json")
    first = run_websys(*staging)
    second = run_websys(*staging, env={"PYTHONHASHSEED": "12345"})
    assert first.returncode == 0
    assert second.returncode == 0
    assert first.stdout == second.stdout
    plan = json.loads(first.stdout)
    assert set(plan) == {"project", "stack", "resources", "outputs"}
    assert (plan["project"], plan["stack"]) == ("websys", "staging")
    urns = [r["urn"] for r in plan["resources"]]
    assert urns == sorted(urns)
    for resource in plan["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "provider", "dependencies", "inputs", "options"}
        assert set(resource["options"]) == {
            "protect",
            "retainOnDelete",
            "deleteBeforeReplace",
            "deleteBeforeReplaceDefined",
            "ignoreChanges",
            "replaceOnChanges",
            "additionalSecretOutputs",
        }
        assert all(dep in urns for dep in resource["dependencies"])


def test_no_deprecation_warning_anywhere() -> None:
    result = run_websys(
        "plan",
        "production",
        "--stack-file",
        str(stack_file("production")),
        "--json",
        env={"PYTHONWARNINGS": "error::DeprecationWarning"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_summary_lists_resources_by_component() -> None:
    result = run_websys("plan", "production", "--stack-file", str(stack_file("production")))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("websys/production: ")
    assert "  websys:app:AppService  backend" in lines
    backend_block = lines[lines.index("  websys:app:AppService  backend") + 1 :]
    assert backend_block[0].split() == ["3", "docker:index/container:Container"]


def test_an_out_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    for out, reason in (
        (tmp_path, "is a directory"),
        (tmp_path / "notes.txt" / "plan.json", f"{tmp_path / 'notes.txt'} is not a directory"),
    ):
        result = run_websys("plan", "staging", "--stack-file", str(stack_file("staging")), "--out", str(out))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"websys plan: --out {out}: {reason}"), result.stderr
        assert result.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_unknown_stack_is_bad_input() -> None:
    result = run_websys("plan", "qa")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "unknown stack 'qa'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan"], "websys plan: Missing argument 'stack'."),
        (["plan", "development", "--bogus"], "websys plan: No such option: --bogus"),
        (["no-such-command"], "websys: No such command 'no-such-command'."),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_websys(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
