"""Grafana's admin password reaches its database: a command after the container, on both platforms,
replaced when the password changes, with the password only in its secret environment."""

from __future__ import annotations

import json

import pytest

from tests.edge_support import make_certificate
from tests.planning import CONTAINER, plan_for, stack_settings
from websys.plan import SECRET, Plan, PlannedResource
from websys.plan.mocks import reference_values
from websys.plan.replacements import REPLACE_CREATE_FIRST, REPLACE_DELETE_FIRST, classify_plans
from websys.push import GRAFANA_ADMIN_SCRIPT, script_text
from websys.settings import SettingsError

COMMAND = "command:local:Command"
RESOURCE = "monitoring-grafana-admin-password"
PASSWORD = "Grafana-Plan-Test-1"


def _command(plan: Plan) -> PlannedResource:
    found = [r for r in plan.of_type(COMMAND) if r.name == RESOURCE]
    assert len(found) == 1, [r.name for r in plan.of_type(COMMAND)]
    return found[0]


def _check_command(plan: Plan, stack: str) -> None:
    command = _command(plan)
    grafana = plan.by_name("monitoring-grafana")
    assert grafana.type == CONTAINER
    assert command.parent.endswith("websys:monitoring:Monitoring::monitoring")
    assert grafana.urn in command.dependencies
    inputs = command.inputs
    assert inputs["create"] == script_text(GRAFANA_ADMIN_SCRIPT)
    assert inputs["interpreter"] == ["/bin/sh", "-c"]
    environment = inputs["environment"]
    assert environment["WEBSYS_EXEC"] == f"docker exec -i websys-{stack}-grafana"
    assert environment["WEBSYS_GRAFANA_HEALTH_URL"] == "http://127.0.0.1:3000/grafana/api/health"
    assert environment["WEBSYS_GRAFANA_ADMIN_PASSWORD"] == SECRET
    assert environment["DOCKER_HOST"] == stack_settings(stack).docker.host
    # The container's id (a new container runs it again) and the password's digest, kept secret.
    container_ids = reference_values(grafana.type, grafana.name, grafana.inputs)
    assert inputs["triggers"][0] in container_ids
    assert inputs["triggers"][1] == SECRET
    assert set(command.secret_fingerprints) == {"environment.WEBSYS_GRAFANA_ADMIN_PASSWORD", "triggers[1]"}
    assert PASSWORD not in json.dumps(plan.to_json())


@pytest.mark.parametrize("stack", ["development", "staging", "production"])
def test_the_password_is_set_by_a_command_after_the_container(stack: str) -> None:
    _check_command(plan_for(stack, secrets=[f"grafanaAdminPassword={PASSWORD}"]), stack)


def test_a_generated_password_is_set_the_same_way() -> None:
    plan = plan_for("staging")
    command = _command(plan)
    generator = plan.by_name("secrets-grafana-admin-password")
    assert generator.urn in command.dependencies
    assert command.inputs["environment"]["WEBSYS_GRAFANA_ADMIN_PASSWORD"] == SECRET
    assert command.inputs["triggers"][1] == SECRET


def test_swarm_execs_into_the_grafana_container_on_the_manager(tmp_path_factory: pytest.TempPathFactory) -> None:
    """On swarm, monitoring stays plain containers on the program's Docker host (the manager):
    the same command reaches Grafana there; no Swarm task needs to be exec'd."""
    crt, key = make_certificate(tmp_path_factory.mktemp("tls"))
    plan = plan_for(
        "production",
        sets=["platform=swarm"],
        secrets=[
            f"grafanaAdminPassword={PASSWORD}",
            f"tlsCertificate={crt.read_text()}",
            f"tlsPrivateKey={key.read_text()}",
        ],
    )
    assert plan.of_type("docker:index/service:Service")
    _check_command(plan, "production")


def test_a_rotation_runs_the_command_again() -> None:
    before = plan_for("staging", secrets=[f"grafanaAdminPassword={PASSWORD}"])
    after = plan_for("staging", secrets=["grafanaAdminPassword=Grafana-Plan-Test-2"])
    outcomes = {o.name: o for o in classify_plans(before, after).values()}
    assert outcomes["monitoring-grafana"].action == REPLACE_DELETE_FIRST
    assert outcomes[RESOURCE].action == REPLACE_CREATE_FIRST
    assert "triggers[1]" in outcomes[RESOURCE].paths
    assert set(outcomes) == {"monitoring-grafana", RESOURCE}


def test_the_same_password_changes_nothing() -> None:
    first = plan_for("staging", secrets=[f"grafanaAdminPassword={PASSWORD}"])
    again = plan_for("staging", secrets=[f"grafanaAdminPassword={PASSWORD}"])
    assert classify_plans(first, again) == {}


def test_a_password_grafana_would_refuse_is_refused_by_the_settings() -> None:
    with pytest.raises(SettingsError, match=r"grafanaAdminPassword: must be at least 5 characters"):
        stack_settings("staging", secrets=["grafanaAdminPassword=abcd"])
