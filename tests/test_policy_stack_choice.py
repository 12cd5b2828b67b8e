"""The stack a plan is checked as comes from the command line (as the engine passes PULUMI_STACK and
the pack config), never from the plan; and a plan the pack cannot be sent is refused with one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from tests.planning import run_websys, stack_file, websys_in_process
from tests.policy_support import PlanDoc, find, run_policy
from websys.plan import Plan


@pytest.fixture(scope="module")
def privileged(stack_plans: dict[str, Plan]) -> PlanDoc:
    """The production plan with a privileged backend: a mandatory violation wherever it is enforced."""
    plan = copy.deepcopy(stack_plans["production"].to_json())
    find(plan, "backend-blue-1")["inputs"]["privileged"] = True
    return plan


def _levels(violations: list[dict[str, str]]) -> set[str]:
    return {v["level"] for v in violations if v["policy"] == "container-not-privileged"}


ENFORCEMENT_CASES = ["development", "Development", "", "staging-but-not", None]


@pytest.mark.parametrize("claimed", ENFORCEMENT_CASES)
def test_the_plans_stack_field_does_not_choose_the_level(
    privileged: PlanDoc, tmp_path: Path, claimed: str | None
) -> None:
    plan = copy.deepcopy(privileged)
    if claimed is None:
        del plan["stack"]
    else:
        plan["stack"] = claimed
    # --stack production given explicitly, through the default, and with PULUMI_STACK set in the shell.
    for args, env in ((["--stack", "production"], {}), ([], {}), ([], {"PULUMI_STACK": "development"})):
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(plan))
        result = websys_in_process("policy", "--plan", str(path), "--json", *args, env=env)
        assert result.returncode == 1, (args, env, result.stdout)
        document = json.loads(result.stdout)
        assert document["stack"] == "production"
        assert _levels(document["violations"]) == {"mandatory"}


def test_the_named_stack_chooses_the_level(privileged: PlanDoc, tmp_path: Path) -> None:
    code, violations = run_policy(privileged, tmp_path, None, stack="development")
    assert _levels(violations) == {"advisory"}
    assert code == 0


@pytest.mark.committed
def test_stack_and_plan_arguments(tmp_path: Path, stack_plans: dict[str, Plan]) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(stack_plans["staging"].to_json()))
    for args, message in (
        (["staging", "--plan", str(path)], "give a STACK or --plan FILE, not both"),
        (["--plan", str(path), "--stack", "qa"], "unknown stack 'qa'"),
        (["staging", "--stack", "production"], "differ"),
        (["--plan", str(path), "--set", "backend.blue.replicas=1"], "cannot change a recorded --plan FILE"),
    ):
        result = run_websys("policy", *args)
        assert result.returncode == 2, args
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_stack_file_of_the_tests_own(tmp_path: Path) -> None:
    """--stack-file plans the stack from a file the test writes: production with one backend replica."""
    document = yaml.safe_load(stack_file("production").read_text())
    for color, replicas in (("blue", 1), ("green", 0)):
        document["config"]["websys:backend"][color]["replicas"] = replicas
    edited = tmp_path / "Pulumi.production.yaml"
    edited.write_text(yaml.safe_dump(document))
    result = run_websys("policy", "production", "--stack-file", str(edited), "--json")
    assert result.returncode == 1, result.stderr
    reported = {v["policy"] for v in json.loads(result.stdout)["violations"]}
    assert reported == {"production-redundancy"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"resources": [{"type": "x"}]}', "resources[0].urn: missing or not a string"),
        ('{"resources": [{"urn": "u", "type": "t", "inputs": []}]}', "resources[0].inputs: not an object"),
        ('{"resources": [7]}', "resources[0]: not an object"),
        ("[" * 10_000 + "]" * 10_000, "not a plan"),
    ],
)
def test_a_plan_the_pack_cannot_be_sent_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    result = run_websys("policy", "--plan", str(path))
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
