"""The policy pack, run over the Analyzer protocol by `websys policy --plan`, as the engine runs it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websys_policies.pack import POLICIES

from tests.edge_support import make_certificate
from tests.planning import plan_for, run_websys, stack_file, websys_in_process
from websys.plan import PROJECT_DIR, Plan
from websys.settings import ENVIRONMENTS

PlanDoc = dict[str, Any]


def _policy(plan: PlanDoc, tmp_path: Path, *args: str, stack: str = "production") -> tuple[int, list[dict[str, str]]]:
    path = tmp_path / f"plan-{stack}.json"
    path.write_text(json.dumps(plan))
    result = websys_in_process("policy", "--plan", str(path), "--stack", stack, "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)["violations"]


def _find(plan: PlanDoc, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(r for r in plan["resources"] if predicate(r))


def _container(plan: PlanDoc, fragment: str) -> dict[str, Any]:
    return _find(
        plan,
        lambda r: r["type"] == "docker:index/container:Container" and fragment in str(r["inputs"].get("name", "")),
    )


def _backend(plan: PlanDoc) -> dict[str, Any]:
    return _container(plan, "-backend-blue-1")


def _drop_side(side_type: str) -> Callable[[PlanDoc], None]:
    def mutate(plan: PlanDoc) -> None:
        plan["resources"] = [r for r in plan["resources"] if r["type"] != f"aws:s3/{side_type}"]

    return mutate


def _set(fragment: str, key: str, value: Any) -> Callable[[PlanDoc], None]:
    def mutate(plan: PlanDoc) -> None:
        _container(plan, fragment)["inputs"][key] = value

    return mutate


def _delete(fragment: str, key: str) -> Callable[[PlanDoc], None]:
    def mutate(plan: PlanDoc) -> None:
        del _container(plan, fragment)["inputs"][key]

    return mutate


def _latest_image(plan: PlanDoc) -> None:
    image = _find(plan, lambda r: r["type"] == "docker:index/remoteImage:RemoteImage")
    image["inputs"]["name"] = image["inputs"]["name"].rsplit(":", 1)[0] + ":latest"


def _plaintext_password(plan: PlanDoc) -> None:
    _backend(plan)["inputs"]["envs"].append("SMTP_PASSWORD=hunter2")


def _fewer_replicas(plan: PlanDoc) -> None:
    plan["resources"] = [
        r for r in plan["resources"] if not str(r["inputs"].get("name", "")).endswith("-backend-blue-2")
    ]
    plan["resources"] = [
        r for r in plan["resources"] if not str(r["inputs"].get("name", "")).endswith("-backend-blue-3")
    ]


def _unprotected_volume(plan: PlanDoc) -> None:
    _find(plan, lambda r: r["type"] == "docker:index/volume:Volume")["options"]["protect"] = False


def _postgres_on_edge(plan: PlanDoc) -> None:
    postgres = _container(plan, "-postgres-primary")
    postgres["inputs"]["networksAdvanced"].append({"name": "websys-production-edge"})


def _no_buckets(plan: PlanDoc) -> None:
    plan["resources"] = [r for r in plan["resources"] if not r["type"].startswith("aws:s3/")]


def _named(name: str) -> Callable[[PlanDoc], dict[str, Any]]:
    return lambda plan: _find(plan, lambda r: r["name"] == name)


def _edit(name: str, change: Callable[[dict[str, Any]], None]) -> Callable[[PlanDoc], None]:
    def mutate(plan: PlanDoc) -> None:
        change(_named(name)(plan))

    return mutate


def _public_statement(bucket_policy: dict[str, Any]) -> None:
    document = json.loads(bucket_policy["inputs"]["policy"])
    document["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}
    )
    bucket_policy["inputs"]["policy"] = json.dumps(document)


def _delete_grant(user_policy: dict[str, Any]) -> None:
    document = json.loads(user_policy["inputs"]["policy"])
    document["Statement"][1]["Action"].append("s3:DeleteObject")
    user_policy["inputs"]["policy"] = json.dumps(document)


def _shorter_retention(plan: PlanDoc) -> None:
    """The backup prefix expires a day sooner than the stack's pack config keeps it."""
    config = json.loads((PROJECT_DIR / "policy" / "config" / "production.json").read_text())
    bucket = _named("backups-bucket")(plan)
    floors = config["s3-retention"]["buckets"][bucket["urn"]]
    prefix, floor = next(iter(floors.items()))
    lifecycle = _named("backups-bucket-lifecycle")(plan)
    lifecycle["inputs"]["rules"].append(
        {
            "id": "cut",
            "status": "Enabled",
            "filter": {"prefix": prefix},
            "expiration": {"days": floor["expirationDays"] - 1},
        }
    )


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"x": value}
    return value


# rule name -> a change to the compliant production plan that breaks exactly that rule
BREAKS: dict[str, Callable[[PlanDoc], None]] = {
    "container-not-privileged": _set("-backend-blue-1", "privileged", True),
    "container-no-new-privileges": _delete("-backend-blue-1", "securityOpts"),
    "container-capabilities-dropped": _set(
        "-backend-blue-1", "capabilities", {"adds": ["SYS_ADMIN"], "drops": ["ALL"]}
    ),
    "container-non-root": _set("-frontend-blue-1", "user", "root"),
    "container-memory-limit": _delete("-frontend-blue-1", "memory"),
    "container-healthcheck": _delete("-backend-blue-2", "healthcheck"),
    "container-restart-policy": _set("-backend-blue-1", "restart", "no"),
    "image-pinned": _latest_image,
    "container-log-rotation": _set("-backend-blue-1", "logOpts", {}),
    "published-ports-nginx-only": _set("-backend-blue-1", "ports", [{"internal": 8000, "external": 8000}]),
    "env-no-plaintext-secret": _plaintext_password,
    "s3-public-access-block": _drop_side("bucketPublicAccessBlock:BucketPublicAccessBlock"),
    "s3-encryption": _drop_side("bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
    "s3-versioning": _drop_side("bucketVersioning:BucketVersioning"),
    "s3-lifecycle": _drop_side("bucketLifecycleConfiguration:BucketLifecycleConfiguration"),
    "s3-tls-only": _drop_side("bucketPolicy:BucketPolicy"),
    "s3-ownership-controls": _drop_side("bucketOwnershipControls:BucketOwnershipControls"),
    "production-redundancy": _fewer_replicas,
    "data-protected": _unprotected_volume,
    "data-services-internal": _postgres_on_edge,
    "backups-and-monitoring": _no_buckets,
    "container-host-namespaces": _set("-backend-blue-1", "pidMode", "host"),
    "container-host-mounts": _set(
        "-backend-blue-1", "volumes", [{"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"}]
    ),
    "container-no-devices": _set("-backend-blue-1", "devices", [{"hostPath": "/dev/kmsg"}]),
    "container-security-profiles": _set(
        "-backend-blue-1", "securityOpts", ["no-new-privileges=true", "seccomp=unconfined"]
    ),
    "container-read-only": _set("-backend-blue-1", "readOnly", False),
    "container-swap-bounded": _set("-backend-blue-1", "memorySwap", -1),
    "s3-no-public-policy": _edit("backups-bucket-policy", _public_statement),
    "s3-retention": _shorter_retention,
    "s3-object-lock": _edit("log-archive-bucket", lambda r: r["inputs"].update(objectLockEnabled=False)),
    "s3-no-force-destroy": _edit("backups-bucket", lambda r: r["inputs"].update(forceDestroy=True)),
    "iam-least-privilege": _edit("backups-job-policy", _delete_grant),
    "kms-key-protected": _edit("backups-key", lambda r: r["inputs"].update(enableKeyRotation=False)),
    "inputs-well-formed": _set("-backend-blue-1", "tmpfs", _nested(40)),
}


def _service(plan: PlanDoc, name: str) -> dict[str, Any]:
    return _find(plan, lambda r: r["type"] == "docker:index/service:Service" and r["name"] == name)


def _stop_first_without_rollback(plan: PlanDoc) -> None:
    backend = _service(plan, "swarm-backend-service")
    backend["inputs"]["updateConfig"].update(order="stop-first", failureAction="pause")
    del backend["inputs"]["rollbackConfig"]


def _secret_in_service_env(plan: PlanDoc) -> None:
    _service(plan, "swarm-backend-service")["inputs"]["taskSpec"]["containerSpec"]["env"]["JWT_SECRET"] = "[secret]"


def _unpinned_postgres(plan: PlanDoc) -> None:
    del _service(plan, "swarm-postgres-primary")["inputs"]["taskSpec"]["placement"]["constraints"]


# rule name -> a change to the compliant production plan on Docker Swarm that breaks exactly that rule
SWARM_BREAKS: dict[str, Callable[[PlanDoc], None]] = {
    "service-rolling-update": _stop_first_without_rollback,
    "service-secrets-as-files": _secret_in_service_env,
    "service-data-pinned": _unpinned_postgres,
}


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> PlanDoc:
    crt, key = make_certificate(tmp_path_factory.mktemp("tls"))
    tls = [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"]
    return plan_for("production", sets=["platform=swarm"], secrets=tls).to_json()


def test_every_rule_has_a_breaking_case() -> None:
    assert sorted([*BREAKS, *SWARM_BREAKS]) == sorted(policy.name for policy in POLICIES)


def test_the_swarm_plan_passes(swarm: PlanDoc, tmp_path: Path) -> None:
    code, violations = _policy(swarm, tmp_path)
    assert violations == []
    assert code == 0


@pytest.mark.committed
@pytest.mark.parametrize("rule", sorted(SWARM_BREAKS))
def test_a_swarm_plan_that_breaks_a_rule_is_reported_by_that_rule(swarm: PlanDoc, rule: str, tmp_path: Path) -> None:
    plan = copy.deepcopy(swarm)
    SWARM_BREAKS[rule](plan)
    code, violations = _policy(plan, tmp_path)
    assert {v["policy"] for v in violations} == {rule}, violations
    assert code == 1


def test_container_rules_apply_to_task_specs(swarm: PlanDoc, tmp_path: Path) -> None:
    plan = copy.deepcopy(swarm)
    spec = _service(plan, "swarm-frontend-service")["inputs"]["taskSpec"]["containerSpec"]
    spec["image"] = spec["image"].rsplit(":", 1)[0] + ":latest"
    spec["user"] = "root"
    _, violations = _policy(plan, tmp_path)
    assert {(v["policy"], v["urn"].rsplit("::", 1)[-1]) for v in violations} == {
        ("image-pinned", "swarm-frontend-service"),
        ("container-non-root", "swarm-frontend-service"),
    }


def test_every_rule_has_metadata() -> None:
    for policy in POLICIES:
        assert policy.description
        assert policy.severity is not None
        assert policy.remediation_steps
        assert policy.enforcement_level is not None


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stack_passes(committed_plans: dict[str, Plan], stack: str, tmp_path: Path) -> None:
    code, violations = _policy(committed_plans[stack].to_json(), tmp_path, stack=stack)
    assert violations == []
    assert code == 0


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_a_plan_that_breaks_a_rule_is_reported_by_that_rule(
    stack_plans: dict[str, Plan], rule: str, tmp_path: Path
) -> None:
    plan = copy.deepcopy(stack_plans["production"].to_json())
    BREAKS[rule](plan)
    code, violations = _policy(plan, tmp_path)
    reported = {v["policy"] for v in violations}
    assert reported == {rule}, violations
    assert code == 1, "production enforces every rule as mandatory"
    assert all(v["level"] == "mandatory" for v in violations)
    assert "hunter2" not in json.dumps(violations)


def test_development_reports_as_advisory(stack_plans: dict[str, Plan], tmp_path: Path) -> None:
    plan = copy.deepcopy(stack_plans["development"].to_json())
    _set("-backend-blue-1", "privileged", True)(plan)
    code, violations = _policy(plan, tmp_path, stack="development")
    assert [(v["policy"], v["level"]) for v in violations] == [("container-not-privileged", "advisory")]
    assert code == 0


def test_a_stack_can_be_checked_directly() -> None:
    result = run_websys(
        "policy", "staging", "--stack-file", str(stack_file("staging")), "--set", "backend.blue.replicas=2"
    )
    assert result.stdout.startswith("staging: ")
    assert result.returncode in (0, 1)
    bad = run_websys(
        "policy", "staging", "--stack-file", str(stack_file("staging")), "--set", "backend.blue.replicas=-1"
    )
    assert bad.returncode == 2
    # One line naming where the value came from (the --set) and the key.
    assert bad.stderr.startswith("--set backend.blue.replicas=-1: websys:backend.blue.replicas: ")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_exemptions_need_the_pack_config(stack_plans: dict[str, Plan], tmp_path: Path) -> None:
    """cAdvisor runs as root by a reviewed exemption; without the exemption the rule reports it."""
    config = tmp_path / "production.json"
    config.write_text(json.dumps({"all": "mandatory"}))
    code, violations = _policy(stack_plans["production"].to_json(), tmp_path, "--policy-config", str(config))
    assert code == 1
    exempted = {(v["policy"], v["urn"].rsplit("::", 1)[-1]) for v in violations}
    assert ("container-non-root", "monitoring-exporters-cadvisor") in exempted
    assert ("container-healthcheck", "monitoring-exporters-nginx-exporter") in exempted
    config.write_text(json.dumps({"all": "mandatory", "no-such-rule": "advisory"}))
    result = run_websys("policy", "--plan", str(tmp_path / "plan-production.json"), "--policy-config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("no-such-rule: no policy of that name in the pack")


def test_a_published_postgresql_port_breaks_two_rules(stack_plans: dict[str, Plan], tmp_path: Path) -> None:
    plan = copy.deepcopy(stack_plans["production"].to_json())
    _set("-postgres-primary", "ports", [{"internal": 5432, "external": 5432}])(plan)
    code, violations = _policy(plan, tmp_path)
    assert {v["policy"] for v in violations} == {"published-ports-nginx-only", "data-services-internal"}
    assert code == 1
