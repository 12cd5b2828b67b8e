"""The app tier, networks and provider as registered with the engine (inputs and options)."""

from __future__ import annotations

import pytest

from tests.planning import CONTAINER, NETWORK, REMOTE_IMAGE, containers, env_of, network_names, plan_for
from websys.plan import SECRET, Plan

EXPECTED_REPLICAS = {"development": (1, 1), "staging": (1, 1), "production": (2, 3)}
STACKS = list(EXPECTED_REPLICAS)


@pytest.mark.parametrize("stack", STACKS)
def test_replica_counts(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    frontend, backend = EXPECTED_REPLICAS[stack]
    assert len(containers(plan, "frontend", "blue")) == frontend
    assert len(containers(plan, "backend", "blue")) == backend
    assert containers(plan, color="green") == []  # the idle color runs nothing


@pytest.mark.parametrize("stack", STACKS)
def test_networks_are_segmented(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    networks = {r.inputs["name"]: r.inputs for r in plan.of_type(NETWORK)}
    edge, data = f"websys-{stack}-edge", f"websys-{stack}-data"
    # The monitoring network and the backup job's own way out are the other networks.
    assert set(networks) - {f"websys-{stack}-monitoring", f"websys-{stack}-backup-egress"} == {edge, data}
    assert networks[data]["internal"] is True, "PostgreSQL and Redis sit on a network with no route out"
    assert not networks[edge].get("internal", False)
    for container in containers(plan, "backend"):
        assert sorted(network_names(container)) == sorted([edge, data])
    for container in containers(plan, "frontend"):
        assert network_names(container) == [edge], "the frontend must not reach the data network"


@pytest.mark.parametrize("stack", STACKS)
def test_every_app_container_is_hardened_and_limited(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    app = containers(plan, "frontend") + containers(plan, "backend")
    assert app
    for container in app:
        inputs = container.inputs
        assert "ports" not in inputs, f"{container.name} publishes a host port"
        assert inputs["user"] == "1000:1000"
        assert "no-new-privileges=true" in inputs["securityOpts"]
        assert inputs["capabilities"] == {"drops": ["ALL"]}
        assert not inputs.get("privileged", False)
        assert inputs["readOnly"] is True
        assert inputs["restart"] == "unless-stopped"
        assert inputs["memory"] >= 128
        assert inputs["memorySwap"] == inputs["memory"]
        assert float(inputs["cpus"]) > 0
        assert inputs["logDriver"] == "json-file"
        assert set(inputs["logOpts"]) == {"max-size", "max-file"}
        assert inputs["healthcheck"]["tests"][0] == "CMD"
        assert inputs["wait"] is True


def test_limits_come_from_settings(stack_plans: dict[str, Plan]) -> None:
    backend = containers(stack_plans["production"], "backend")[0].inputs
    frontend = containers(stack_plans["production"], "frontend")[0].inputs
    assert (backend["memory"], backend["cpus"]) == (1024, "1.0")
    assert (frontend["memory"], frontend["cpus"]) == (512, "0.5")
    assert backend["logOpts"] == {"max-size": "10m", "max-file": "10"}


@pytest.mark.parametrize("stack", STACKS)
def test_healthchecks_probe_the_configured_paths(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    backend = containers(plan, "backend")[0].inputs["healthcheck"]
    frontend = containers(plan, "frontend")[0].inputs["healthcheck"]
    # The image's `websys-healthcheck` program probes the URL (docs/reference-app.md).
    assert backend["tests"] == ["CMD", "websys-healthcheck", "http://127.0.0.1:8000/health"]
    assert frontend["tests"] == ["CMD", "websys-healthcheck", "http://127.0.0.1:3000/"]
    assert (backend["interval"], backend["timeout"], backend["retries"]) == ("30s", "10s", 3)


@pytest.mark.parametrize("stack", STACKS)
def test_environment_variables(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    for container in containers(plan, "backend"):
        env = env_of(container)
        assert env == {"NODE_ENV": stack, "PORT": "8000"}
        # DATABASE_URL, REDIS_URL and JWT_SECRET: present, and secret as a whole.
        assert container.inputs["envs"].count(SECRET) == 3
    expected_api = {
        "development": "https://localhost/api",
        "staging": "https://api-staging.websys.company.com",
        "production": "https://api.websys.company.com",
    }[stack]
    for container in containers(plan, "frontend"):
        assert env_of(container) == {"NODE_ENV": stack, "PORT": "3000", "VITE_API_BASE_URL": expected_api}
        assert SECRET not in container.inputs["envs"], "nothing secret reaches the frontend"


@pytest.mark.parametrize("stack", STACKS)
def test_containers_run_the_pulled_image_by_id(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    images = {r.urn: r for r in plan.of_type(REMOTE_IMAGE)}
    for container in containers(plan):
        assert container.inputs["image"].startswith("sha256:"), "image must be RemoteImage.image_id, not its name"
        image_deps = [urn for urn in container.dependencies if urn in images]
        assert len(image_deps) == 1
    for image in images.values():
        name = image.inputs["name"]
        assert ":" in name.rsplit("/", 1)[-1]
        assert not name.endswith(":latest")
        assert image.inputs["keepLocally"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_one_docker_provider_per_stack_at_its_host(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    providers = plan.of_type("pulumi:providers:docker")
    assert len(providers) == 1
    host = providers[0].inputs["host"]
    assert host == "unix:///var/run/docker.sock" if stack == "development" else host.startswith("ssh://")
    for resource in plan.resources:
        if resource.type.startswith("docker:"):
            assert resource.provider == providers[0].urn, f"{resource.name} would use the default provider"


def test_components_parent_their_children(stack_plans: dict[str, Plan]) -> None:
    plan = stack_plans["production"]
    component_types = {r.urn: r.type for r in plan.resources if r.type.startswith("websys:")}
    assert set(component_types.values()) >= {
        "websys:app:AppService",
        "websys:network:Network",
        "websys:secrets:StackSecrets",
    }
    for resource in plan.of_type(CONTAINER) + plan.of_type(NETWORK):
        assert resource.parent in component_types


def test_scaling_adds_containers_and_changes_no_other_resource(stack_plans: dict[str, Plan]) -> None:
    before = stack_plans["production"]
    after = plan_for("production", sets=["backend.blue.replicas=5"])
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    added = sorted(new.keys() - old.keys())
    assert [u.rsplit("::", 1)[1] for u in added] == ["backend-blue-4", "backend-blue-5"]
    assert not old.keys() - new.keys()
    changed = [
        urn for urn in old if old[urn].to_json() != new[urn].to_json() and old[urn].type != "pulumi:pulumi:Stack"
    ]
    # The config pushes run again: Prometheus's (a checked reload that scrapes the new replicas) and
    # the edge's (a checked nginx reload that routes to them); no container and nothing else changes.
    assert sorted(urn.rsplit("::", 1)[1] for urn in changed) == ["monitoring-prometheus-config", "proxy-config"]


def test_green_replicas_get_their_own_image_and_names() -> None:
    plan = plan_for(
        "production",
        sets=["backend.green.replicas=2", "backend.green.image=registry.websys.company.com/websys/backend:1.1.0"],
    )
    green = containers(plan, "backend", "green")
    assert [c.inputs["name"] for c in green] == [
        "websys-production-backend-green-1",
        "websys-production-backend-green-2",
    ]
    green_image = plan.by_name("backend-green-image")
    assert green_image.inputs["name"].endswith(":1.1.0")
    assert all(green_image.urn in c.dependencies for c in green)
    assert len(containers(plan, "backend", "blue")) == 3
