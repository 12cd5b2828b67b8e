"""Read-back normal form: every plan (each stack on its own stack file, and swarm) already sends
what the providers read back, and each rule catches the spelling it is about."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cpus import docker_cpus
from components.durations import go_duration, short_duration
from tests.edge_support import make_certificate
from tests.planning import stack_file
from websys.plan import Plan, PlannedResource, record_plan
from websys.plan.model import ResourceOptions
from websys.plan.readback import (
    BUCKET,
    BUCKET_POLICY,
    CONTAINER,
    IAM_USER,
    IAM_USER_POLICY,
    KMS_KEY,
    LIFECYCLE,
    NETWORK,
    SERVICE,
    check_plan,
    check_resource,
)
from websys.stackfile import apply_override, read_stack_file


def _plan_of_own_stack(tmp_path: Path, stack: str, sets: list[str], secrets: Sequence[str] = ()) -> Plan:
    """A stack file made for the test from the tests' own one, with the values it depends on set."""
    source = yaml.safe_load(stack_file(stack).read_text())
    own = tmp_path / f"Pulumi.{stack}.yaml"
    own.write_text(yaml.safe_dump(source))
    config = read_stack_file(own)
    for item in sets:
        apply_override(config, item, secret=False, flag="--set")
    for item in secrets:
        apply_override(config, item, secret=True, flag="--secret")
    return record_plan(stack, config)


@pytest.mark.parametrize("stack", ["development", "staging", "production"])
def test_every_stack_sends_what_comes_back(tmp_path: Path, stack: str) -> None:
    # Odd values on purpose: a minute-long start period, whole and fractional CPUs.
    plan = _plan_of_own_stack(
        tmp_path, stack, ["backend.healthcheck.startPeriodSeconds=90", "backend.resources.cpus=2", "proxy.cpus=0.25"]
    )
    findings = check_plan(plan)
    assert findings == [], "\n".join(map(str, findings))


def test_swarm_sends_what_comes_back(tmp_path: Path) -> None:
    crt, key = make_certificate(tmp_path)
    plan = _plan_of_own_stack(
        tmp_path,
        "production",
        ["platform=swarm", "swarm.monitorSeconds=120", "swarm.stopGraceSeconds=90"],
        [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"],
    )
    assert plan.of_type(SERVICE)
    findings = check_plan(plan)
    assert findings == [], "\n".join(map(str, findings))


def _resource(type_token: str, inputs: Mapping[str, Any], ignore: list[str] | None = None) -> PlannedResource:
    options = ResourceOptions(False, False, False, False, ignore or [], [], [])
    return PlannedResource(f"urn:x::{type_token}::r", type_token, "r", "", "", [], dict(inputs), options)


@pytest.mark.parametrize(
    ("type_token", "inputs", "path", "back"),
    [
        (
            CONTAINER,
            {"capabilities": {"adds": ["SETUID", "chown"], "drops": ["ALL"]}},
            "capabilities.adds",
            ["CAP_CHOWN", "CAP_SETUID"],
        ),
        (CONTAINER, {"cpus": "1"}, "cpus", "1.0"),
        (CONTAINER, {"cpus": "10"}, "cpus", "10."),
        (CONTAINER, {"healthcheck": {"startPeriod": "300s"}}, "healthcheck.startPeriod", "5m0s"),
        (CONTAINER, {"securityOpts": ["no-new-privileges:true"]}, "securityOpts[0]", "no-new-privileges=true"),
        (SERVICE, {"updateConfig": {"monitor": "300s"}}, "updateConfig.monitor", "5m"),
        (
            SERVICE,
            {"taskSpec": {"placement": {"prefs": ["spread=node.labels.zone"]}}},
            "taskSpec.placement.prefs[0]",
            "node.labels.zone",
        ),
        (
            NETWORK,
            {"ipamConfigs": [{"subnet": "10.9.0.0/24"}]},
            "ipamConfigs[0]",
            {"subnet": "10.9.0.0/24", "gateway": "10.9.0.1"},
        ),
    ],
)
def test_each_rule_names_resource_path_sent_and_back(
    type_token: str, inputs: dict[str, object], path: str, back: object
) -> None:
    findings = [f for f in check_resource(_resource(type_token, inputs)) if f.path == path]
    assert len(findings) == 1
    assert findings[0].back == back
    assert str(findings[0]).startswith(f"urn:x::{type_token}::r: {path}: sends ")


def test_service_images_need_a_digest_and_platforms_are_the_registrys() -> None:
    spec = {"taskSpec": {"containerSpec": {"image": "nginx:1.28.0"}, "placement": {}}}
    paths = {f.path for f in check_resource(_resource(SERVICE, spec))}
    assert paths == {"taskSpec.containerSpec.image", "taskSpec.placement.platforms"}
    pinned = {"taskSpec": {"containerSpec": {"image": "nginx:1.28.0@sha256:" + "a" * 64}, "placement": {}}}
    assert list(check_resource(_resource(SERVICE, pinned, ["taskSpec.placement.platforms"]))) == []


def test_overlay_options_are_ignored_or_flagged() -> None:
    overlay = {"driver": "overlay", "options": {"encrypted": "true"}}
    assert [f.path for f in check_resource(_resource(NETWORK, overlay))] == ["options"]
    assert list(check_resource(_resource(NETWORK, overlay, ["options"]))) == []


def test_the_spellings_themselves() -> None:
    assert [docker_cpus(v) for v in ("1", 0.5, 1.5, 2, "0.05")] == ["1.0", "0.5", "1.5", "2.0", "0.1"]
    assert [go_duration(v) for v in (0, 45, 60, 90, 3600)] == ["0s", "45s", "1m0s", "1m30s", "1h0m0s"]
    assert [short_duration(v) for v in (45, 60, 90, 3600, 3660)] == ["45s", "1m", "1m30s", "1h", "1h1m"]


_NOT_A_POLICY = "<not a JSON policy document>"


@pytest.mark.parametrize(
    ("type_token", "inputs", "path", "back"),
    [
        (
            LIFECYCLE,
            {"rules": [{"id": "x", "expiration": {"days": 30, "expiredObjectDeleteMarker": True}}]},
            "rules[0].expiration",
            {"days": 30, "expiredObjectDeleteMarker": False},
        ),
        (BUCKET, {"tags": {"aws:cloudformation:stack-name": "s", "team": "t"}}, "tags", {"team": "t"}),
        (KMS_KEY, {"tags": {"aws:x": "y"}}, "tags", {}),
        (IAM_USER, {"tags": {"aws:x": "y", "a": "b"}}, "tags", {"a": "b"}),
        (BUCKET_POLICY, {"policy": "Statement: [] # YAML, not JSON"}, "policy", _NOT_A_POLICY),
        (IAM_USER_POLICY, {"policy": '["not", "a", "document"]'}, "policy", _NOT_A_POLICY),
    ],
)
def test_each_aws_rule_catches_a_hand_made_bad_value(
    type_token: str, inputs: dict[str, object], path: str, back: object
) -> None:
    findings = [f for f in check_resource(_resource(type_token, inputs)) if f.path == path]
    assert len(findings) == 1, list(check_resource(_resource(type_token, inputs)))
    assert findings[0].back == back
    assert "terraform-provider-aws" in findings[0].source


def test_the_aws_forms_the_program_sends_read_back_as_sent() -> None:
    """A delete-marker expiry on its own, a days expiry on its own, user tags, any JSON spelling of a policy."""
    lifecycle = {
        "rules": [
            {"id": "a", "expiration": {"days": 30}, "noncurrentVersionExpiration": {"noncurrentDays": 7}},
            {"id": "b", "expiration": {"expiredObjectDeleteMarker": True}},
        ]
    }
    policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}'
    for type_token, inputs in (
        (LIFECYCLE, lifecycle),
        (BUCKET, {"tags": {"websys:environment": "staging"}}),
        (BUCKET_POLICY, {"policy": policy}),
        (IAM_USER_POLICY, {"policy": json.dumps(json.loads(policy), indent=2, sort_keys=True)}),
    ):
        assert list(check_resource(_resource(type_token, inputs))) == []
