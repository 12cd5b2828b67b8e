"""The replacement matrix: for each normal operation, what the engine updates, replaces (and in
which order) or leaves alone, from two plans of stack files made for the test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from tests.edge_support import make_certificate
from tests.planning import stack_file
from websys.plan import Plan, record_plan
from websys.plan.replacements import (
    REPLACE_CREATE_FIRST,
    REPLACE_DELETE_FIRST,
    UPDATE,
    Outcome,
    classify_plans,
)
from websys.stackfile import apply_override, read_stack_file

CONTAINER = "docker:index/container:Container"
NEVER_REPLACED = ("docker:index/volume:Volume", "aws:s3/bucket:Bucket", "aws:kms/key:Key")
SECRETS = {
    "databasePassword": "Db-Matrix-Value-1",
    "jwtSecret": "Jwt-Matrix-Value-1",
    "redisPassword": "Redis-Matrix-1",
    "grafanaAdminPassword": "Grafana-Matrix-1",
}
# Both colors with replicas and known images, whatever the committed stack says.
BASE = [
    "deploy.activeColor=blue",
    "backend.blue.replicas=2",
    "backend.green.replicas=2",
    "backend.blue.image=registry.example/backend:1.0.0",
    "backend.green.image=registry.example/backend:1.0.0",
    "frontend.blue.replicas=2",
    "frontend.green.replicas=2",
    "frontend.blue.image=registry.example/frontend:1.0.0",
    "frontend.green.image=registry.example/frontend:1.0.0",
]


def _plan(
    tmp_path: Path,
    sets: Sequence[str],
    secrets: dict[str, str],
    extra_secrets: Sequence[str] = (),
    stack: str = "staging",
) -> Plan:
    own = tmp_path / f"Pulumi.{stack}.yaml"
    own.write_text(yaml.safe_dump(yaml.safe_load(stack_file(stack).read_text())))
    config = read_stack_file(own)
    for item in [*BASE, *sets]:
        apply_override(config, item, secret=False, flag="--set")
    for key, value in {**SECRETS, **secrets}.items():
        apply_override(config, f"{key}={value}", secret=True, flag="--secret")
    for item in extra_secrets:
        apply_override(config, item, secret=True, flag="--secret")
    return record_plan(stack, config)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _plan(tmp_path_factory.mktemp("base"), [], {})


def _label(outcome: Outcome, key: str) -> str | None:
    labels = {item["label"]: item["value"] for item in outcome.inputs.get("labels", []) if isinstance(item, dict)}
    return labels.get(key)


def _assert_safe(outcomes: dict[str, Outcome]) -> None:
    for outcome in outcomes.values():
        if outcome.action in (REPLACE_DELETE_FIRST, REPLACE_CREATE_FIRST):
            assert outcome.type not in NEVER_REPLACED, outcome
            assert not (outcome.type == CONTAINER and outcome.inputs.get("name", "").endswith("-nginx")), outcome


OPERATIONS = {
    "scale a color": (["backend.blue.replicas=3"], {}),
    "switch the active color": (["deploy.activeColor=green"], {}),
    "new image on the idle color": (["backend.green.image=registry.example/backend:1.1.0"], {}),
    "new image on the active color": (["backend.blue.image=registry.example/backend:1.1.0"], {}),
    "nginx config change": (["proxy.clientMaxBodySizeMb=20"], {}),
    "Prometheus config change": (["monitoring.scrapeIntervalSeconds=30"], {}),
    "PostgreSQL setting change": (["postgres.maxConnections=150"], {}),
    "database password rotated": ([], {"databasePassword": "Db-Matrix-Value-2"}),
    "JWT secret rotated": ([], {"jwtSecret": "Jwt-Matrix-Value-2"}),
    "Redis password rotated": ([], {"redisPassword": "Redis-Matrix-2"}),
    "Grafana password rotated": ([], {"grafanaAdminPassword": "Grafana-Matrix-2"}),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_no_operation_replaces_data_or_the_edge(base: Plan, tmp_path: Path, operation: str) -> None:
    sets, secrets = OPERATIONS[operation]
    outcomes = classify_plans(base, _plan(tmp_path, sets, secrets))
    assert outcomes, f"{operation} changes something"
    _assert_safe(outcomes)


def test_scaling_adds_only_the_new_replica(base: Plan, tmp_path: Path) -> None:
    outcomes = classify_plans(base, _plan(tmp_path, ["backend.blue.replicas=3"], {}))
    created = [o for o in outcomes.values() if o.action == "create" and o.type == CONTAINER]
    assert len(created) == 1
    assert not [o for o in outcomes.values() if o.action in (REPLACE_DELETE_FIRST, REPLACE_CREATE_FIRST)]


def test_a_new_image_on_the_idle_color_touches_only_that_color(base: Plan, tmp_path: Path) -> None:
    outcomes = classify_plans(base, _plan(tmp_path, ["backend.green.image=registry.example/backend:1.1.0"], {}))
    replaced = [o for o in outcomes.values() if o.type == CONTAINER and o.action == REPLACE_DELETE_FIRST]
    assert replaced
    assert {_label(o, "com.websys.color") for o in replaced} == {"green"}


def test_a_jwt_rotation_takes_every_backend_replica_down_at_once(base: Plan, tmp_path: Path) -> None:
    """Honest: the engine replaces independent containers concurrently, delete first; every
    replica of both colors holds the secret in its environment (a ForceNew input)."""
    outcomes = classify_plans(base, _plan(tmp_path, [], {"jwtSecret": "Jwt-Matrix-Value-2"}))
    backend = [o for o in outcomes.values() if o.type == CONTAINER and _label(o, "com.websys.service") == "backend"]
    down = [o for o in backend if o.action == REPLACE_DELETE_FIRST]
    assert len(down) == len(backend) == 4


def test_swarm_rotations_create_the_new_object_first(tmp_path: Path) -> None:
    crt, key = make_certificate(tmp_path)
    tls = [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"]
    before = _plan(tmp_path, ["platform=swarm"], {}, tls, "production")
    for sets, secrets in (
        ([], {"jwtSecret": "Jwt-Matrix-Value-2"}),
        (["proxy.clientMaxBodySizeMb=20"], {}),
        (["backend.blue.image=registry.example/backend:1.1.0"], {}),
        (["backend.blue.replicas=4"], {}),
    ):
        outcomes = classify_plans(before, _plan(tmp_path, ["platform=swarm", *sets], secrets, tls, "production"))
        _assert_safe(outcomes)
        for outcome in outcomes.values():
            if outcome.type in ("docker:index/secret:Secret", "docker:index/serviceConfig:ServiceConfig"):
                assert outcome.action == REPLACE_CREATE_FIRST, outcome
                assert "name" in outcome.paths, outcome
            if outcome.type == "docker:index/service:Service":
                assert outcome.action == UPDATE, outcome


def test_nginx_and_prometheus_config_changes_are_pushed_not_replaced(base: Plan, tmp_path: Path) -> None:
    for sets, pushed in (
        (["proxy.clientMaxBodySizeMb=20"], "proxy-config"),
        (["monitoring.scrapeIntervalSeconds=30"], "monitoring-prometheus-config"),
    ):
        outcomes = {o.name: o.action for o in classify_plans(base, _plan(tmp_path, sets, {})).values()}
        assert outcomes[pushed] == UPDATE, outcomes
        assert "proxy-nginx" not in outcomes, outcomes
        assert "monitoring-prometheus" not in outcomes, outcomes
