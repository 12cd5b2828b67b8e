"""Monitoring as the engine would see it: targets resolve to containers, and the containers are hardened."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from monitoring import targets
from monitoring.files import PROMETHEUS_PUSH_VARIABLES, PROMETHEUS_RESOURCE, files_for
from monitoring.prometheus import render_prometheus_bootstrap
from monitoring.targets import scrape_jobs
from tests.planning import CONTAINER, NETWORK, containers, env_of, network_names, plan_for, stack_settings
from websys import naming
from websys.plan import SECRET, Plan, PlannedResource
from websys.plan.mocks import digest
from websys.push import PUSH_SCRIPT, script_text
from websys.settings import Settings

STACKS = ["development", "staging", "production"]
MONITORING_SERVICES = {
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "cadvisor",
    "postgres-exporter",
    "redis-exporter",
    "nginx-exporter",
}


def by_name(plan: Plan) -> dict[str, PlannedResource]:
    return {resource.inputs["name"]: resource for resource in plan.of_type(CONTAINER)}


def prometheus_push(plan: Plan) -> PlannedResource:
    return plan.by_name("monitoring-prometheus-config")


def prometheus_config(plan: Plan) -> dict[str, Any]:
    """prometheus.yml as the config push delivers it to the running Prometheus."""
    text = prometheus_push(plan).inputs["environment"]["WEBSYS_PROMETHEUS_CONFIG"]
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def job_targets(plan: Plan, job: str) -> list[tuple[str, dict[str, str]]]:
    config = prometheus_config(plan)
    found = []
    for scrape in config["scrape_configs"]:
        if scrape["job_name"] == job:
            for static in scrape["static_configs"]:
                found += [(address, static.get("labels", {})) for address in static["targets"]]
    return found


def expected_watched(env: str, service: str, postgres_replicas: int) -> list[str]:
    """The names of the watched service's containers, from the shared naming functions."""
    if service == "postgres":
        return [naming.postgres_primary(env)] + [
            naming.postgres_replica(env, i) for i in range(1, postgres_replicas + 1)
        ]
    return [naming.redis(env)] if service == "redis" else [naming.nginx(env)]


def service_containers(names: set[str], env: str, service: str) -> set[str]:
    """Containers of a service another component builds (PostgreSQL, Redis, nginx, the backup job)."""
    stem = f"{naming.prefix(env)}-{service}"
    return {name for name in names if (name == stem or name.startswith(f"{stem}-")) and "-exporter" not in name}


@pytest.mark.parametrize("stack", STACKS)
def test_every_scrape_target_resolves_to_a_container_prometheus_can_reach(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    settings = stack_settings(stack)
    env = settings.environment
    names = by_name(plan)
    prometheus_networks = set(network_names(names[targets.prometheus_name(env)]))
    rendered = {
        address
        for job in prometheus_config(plan)["scrape_configs"]
        for s in job["static_configs"]
        for address in s["targets"]
    }
    model = {target.address for job in scrape_jobs(settings) for target in job.targets}
    assert rendered == model
    for job in scrape_jobs(settings):
        for target in job.targets:
            if job.name == "backup":
                # Built by the backup component; until its container is in the plan, hold it to the name.
                built = service_containers(set(names), env, "backup")
                if built:
                    assert target.host in built
                else:
                    assert target.host == targets.backup_name(env)
                continue
            assert target.host in names, f"{target.address} ({job.name}) is no container of the plan"
            shared = prometheus_networks & set(network_names(names[target.host]))
            assert shared, f"Prometheus shares no network with {target.host}"


@pytest.mark.parametrize(
    ("stack", "sets"),
    [("development", []), ("production", []), ("production", ["postgres.replicas=3"])],
)
def test_exporters_watch_the_containers_the_data_and_edge_components_name(stack: str, sets: list[str]) -> None:
    plan = plan_for(stack, sets=sets)
    settings = stack_settings(stack, sets)
    env = settings.environment
    names = set(by_name(plan))
    for service in ("postgres", "redis", "nginx"):
        watched = [t.watches for job in scrape_jobs(settings) for t in job.targets if t.watches_service == service]
        assert watched == expected_watched(env, service, settings.postgres.replicas)
        built = service_containers(names, env, service)
        if built:  # once that component is in the plan, its containers are the ones watched
            assert set(watched) == built
    postgres_exporters = containers(plan, "postgres-exporter")
    assert len(postgres_exporters) == settings.postgres.replicas + 1
    uris = sorted(env_of(c)["DATA_SOURCE_URI"] for c in postgres_exporters)
    assert uris == sorted(
        f"{name}:5432/{settings.database.name}?sslmode=disable" for name in watched_postgres(settings)
    )


def watched_postgres(settings: Settings) -> list[str]:
    return expected_watched(settings.environment, "postgres", settings.postgres.replicas)


def test_adding_a_backend_replica_adds_its_target(stack_plans: dict[str, Plan]) -> None:
    before = job_targets(stack_plans["production"], "backend")
    after = job_targets(plan_for("production", sets=["backend.blue.replicas=5"]), "backend")
    assert len(before) == 3
    added = [target for target in after if target not in before]
    assert added == [
        ("websys-production-backend-blue-4:8000", {"color": "blue"}),
        ("websys-production-backend-blue-5:8000", {"color": "blue"}),
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_starts_from_a_fixed_bootstrap_and_gets_its_files_by_a_checked_push(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    settings = stack_settings(stack)
    container = plan.by_name("monitoring-prometheus")
    assert container.inputs["uploads"] == [
        {
            "content": render_prometheus_bootstrap(settings),
            "file": "/etc/prometheus/prometheus.yml",
            "owner": "65534",
            "group": "65534",
        }
    ]
    push = prometheus_push(plan)
    environment = push.inputs["environment"]
    assert environment["WEBSYS_EXEC"] == f"docker exec -i websys-{stack}-prometheus"
    assert environment["DOCKER_HOST"] == plan.of_type("pulumi:providers:docker")[0].inputs["host"]
    assert environment["WEBSYS_FILES"].splitlines() == [
        "WEBSYS_PROMETHEUS_CONFIG 644 /etc/prometheus/prometheus.yml",
        "WEBSYS_PROMETHEUS_RULES 644 /etc/prometheus/rules/websys.rules.yml",
        "WEBSYS_PROMETHEUS_RULES_TESTS 644 /etc/prometheus/tests/websys.rules.test.yml",
    ]
    for rendered in files_for(settings, PROMETHEUS_RESOURCE):
        variable = PROMETHEUS_PUSH_VARIABLES[rendered.kind]
        assert environment[variable] == rendered.content
    assert "promtool" in environment["WEBSYS_APPLY"]
    assert "kill -HUP" in environment["WEBSYS_APPLY"]
    assert push.inputs["create"] == script_text(PUSH_SCRIPT)
    # A new container starts from the bootstrap: the push runs again for it.
    assert push.inputs["triggers"] == [digest(CONTAINER, "monitoring-prometheus")]
    assert "triggers[*]" in push.options.replace_on_changes
    # New backend replicas exist before they are scraped.
    assert {container.urn, *(c.urn for c in containers(plan, "backend"))} <= set(push.dependencies)


@pytest.mark.parametrize(
    "change",
    [["backend.blue.replicas=5"], ["backend.green.replicas=2"], ["deploy.activeColor=green"]],
)
def test_scaling_or_switching_the_app_changes_no_monitoring_container(change: list[str]) -> None:
    """Only the config pushes change; every container but the new replicas stays as it is."""
    ready = ["backend.green.replicas=3", "frontend.green.replicas=2"]
    before = plan_for("production", sets=ready)
    after = plan_for("production", sets=[*ready, *change])
    old = {r.urn: r.to_json() for r in before.resources}
    differing = sorted(
        r.name
        for r in after.resources
        if r.urn in old and old[r.urn] != r.to_json() and r.type != "pulumi:pulumi:Stack"
    )
    assert set(differing) <= {"proxy-config", "monitoring-prometheus-config"}, differing
    assert not [r for r in after.resources if r.urn in old and r.type == CONTAINER and old[r.urn] != r.to_json()]
    if change != ["deploy.activeColor=green"]:
        assert "monitoring-prometheus-config" in differing


def test_both_colors_are_scraped_and_labelled() -> None:
    plan = plan_for("production", sets=["backend.green.replicas=2"])
    backend = job_targets(plan, "backend")
    colors = [labels["color"] for _, labels in backend]
    assert colors == ["blue", "blue", "blue", "green", "green"]
    names = by_name(plan)
    for address, _ in backend:
        assert address.rsplit(":", 1)[0] in names


@pytest.mark.parametrize("stack", STACKS)
def test_monitoring_containers_are_hardened(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    monitored = [c for c in plan.of_type(CONTAINER) if _service(c) in MONITORING_SERVICES]
    assert {_service(c) for c in monitored} == MONITORING_SERVICES
    for container in monitored:
        inputs = container.inputs
        service = _service(container)
        assert "ports" not in inputs, f"{container.name} publishes a host port"
        assert "no-new-privileges=true" in inputs["securityOpts"]
        assert inputs["capabilities"]["drops"] == ["ALL"]
        assert not inputs.get("privileged", False)
        assert inputs["restart"] == "unless-stopped"
        assert 16 <= inputs["memory"] == inputs["memorySwap"]
        assert inputs["logDriver"] == "json-file"
        assert set(inputs["logOpts"]) == {"max-size", "max-file"}
        assert inputs["image"].startswith("sha256:")
        if service == "cadvisor":
            assert inputs["user"] == "0:0"
            assert inputs["capabilities"]["adds"] == ["CAP_DAC_READ_SEARCH"]
            assert all(volume["readOnly"] for volume in inputs["volumes"])
        else:
            assert not inputs["user"].startswith("0"), f"{container.name} runs as root"
            assert "adds" not in inputs["capabilities"]
        if service == "nginx-exporter":
            assert "healthcheck" not in inputs  # FROM scratch: nothing to run a probe with
        else:
            assert inputs["healthcheck"]["tests"][0] == "CMD"
            assert inputs["wait"] is True
        if service not in ("prometheus", "alertmanager", "grafana"):  # these three receive files
            assert inputs["readOnly"] is True
    grafana = plan.by_name("monitoring-grafana").inputs
    assert "3001" not in json.dumps(grafana)


@pytest.mark.parametrize("stack", STACKS)
def test_networks_of_monitoring(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    edge, data, monitoring = (f"websys-{stack}-{purpose}" for purpose in ("edge", "data", "monitoring"))
    networks = {r.inputs["name"]: r.inputs for r in plan.of_type(NETWORK)}
    assert networks[monitoring]["internal"] is True
    expected = {
        "prometheus": {monitoring, edge, data},
        "alertmanager": {monitoring, edge},
        "grafana": {monitoring, edge},
        "node-exporter": {monitoring},
        "cadvisor": {monitoring},
        "postgres-exporter": {data},
        "redis-exporter": {data},
        "nginx-exporter": {edge},
    }
    for container in plan.of_type(CONTAINER):
        service = _service(container)
        if service in expected:
            assert set(network_names(container)) == expected[service], container.name
    for app in containers(plan, "frontend") + containers(plan, "backend"):
        assert monitoring not in network_names(app)


def test_credentials_reach_exporters_and_grafana_only_as_secrets() -> None:
    secret_values = ["db-password-for-test", "redis-password-for-test", "grafana-password-for-test", "slack-url"]
    plan = plan_for(
        "production",
        sets=["monitoring.receivers.slack={channel: '#ops'}"],
        secrets=[
            f"databasePassword={secret_values[0]}",
            f"redisPassword={secret_values[1]}",
            f"grafanaAdminPassword={secret_values[2]}",
            f"alertSlackWebhookUrl=https://hooks.slack.com/{secret_values[3]}",
        ],
    )
    text = json.dumps(plan.to_json())
    for value in secret_values:
        assert value not in text
    for container in containers(plan, "postgres-exporter"):
        assert "DATA_SOURCE_PASS" not in env_of(container)
        assert container.inputs["envs"].count(SECRET) == 1
    assert containers(plan, "redis-exporter")[0].inputs["envs"].count(SECRET) == 1
    assert containers(plan, "grafana")[0].inputs["envs"].count(SECRET) == 1
    uploads = plan.by_name("monitoring-alertmanager").inputs["uploads"]
    slack = [u for u in uploads if u["file"] == "/etc/alertmanager/secrets/slack-webhook-url"]
    assert len(slack) == 1
    assert slack[0]["content"] == SECRET
    assert slack[0]["permissions"] == "0400"


def test_monitoring_is_optional_in_development_only(stack_plans: dict[str, Plan]) -> None:
    full = stack_plans["development"]
    without = plan_for("development", sets=["monitoring.enabled=false"])
    assert not [r for r in without.resources if "monitoring" in r.urn]
    kept = {r.urn for r in full.resources if "monitoring" not in r.urn}
    assert {r.urn for r in without.resources} == kept
    assert "monitoringContainers" not in without.outputs


def test_volumes_keep_metrics_and_dashboards_state(stack_plans: dict[str, Plan]) -> None:
    plan = stack_plans["production"]
    volumes = {r.inputs["name"] for r in plan.of_type("docker:index/volume:Volume")}
    assert {"websys-production-prometheus-data", "websys-production-grafana-data"} <= volumes
    prometheus = plan.by_name("monitoring-prometheus").inputs
    assert {"volumeName": "websys-production-prometheus-data", "containerPath": "/prometheus"} in [
        {k: v for k, v in volume.items() if k in ("volumeName", "containerPath")} for volume in prometheus["volumes"]
    ]
    assert "--storage.tsdb.retention.time=30d" in prometheus["command"]
    assert "--storage.tsdb.retention.size=50GB" in prometheus["command"]


def _service(container: PlannedResource) -> str:
    labels = {label["label"]: label["value"] for label in container.inputs.get("labels", [])}
    return str(labels.get("com.websys.service", ""))


def test_the_nginx_exporter_reads_the_edges_one_status_port() -> None:
    plan = plan_for("development", sets=["proxy.statusPort=8089"])
    assert plan.outputs["nginxStatusUrl"] == "http://websys-development-nginx:8089/stub_status"
    exporter = containers(plan, "nginx-exporter")[0]
    assert f"--nginx.scrape-uri={plan.outputs['nginxStatusUrl']}" in exporter.inputs["command"]
