"""Production on Docker Swarm (`platform: swarm`), as registered with the engine.

Every plan here is production's stack file with `--set platform=swarm` (the committed stack files
stay `host`), the edge's certificate and key as secrets, and a few rollout settings that differ
from the defaults, so the tests see them flow from the settings into the service specs.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from components.durations import parse_go_duration
from components.swarm.content import config_name
from tests.edge_support import make_certificate, nginx_binary
from tests.planning import CONTAINER, NETWORK, plan_for, run_websys, stack_config, stack_file, stack_settings
from websys.diff import diff_plans, is_stateful
from websys.plan import SECRET, Plan, PlannedResource
from websys.plan.mocks import digest
from websys.plan.replacements import REPLACE_CREATE_FIRST, UPDATE, classify_plans
from websys.settings import SettingsError, parse_settings

SERVICE = "docker:index/service:Service"
SWARM_SECRET = "docker:index/secret:Secret"
SERVICE_CONFIG = "docker:index/serviceConfig:ServiceConfig"
STACK = "production"
ROLLOUT = ["swarm.updateParallelism=2", "swarm.updateDelaySeconds=15", "swarm.monitorSeconds=45"]
# Known values, so the tests can look for them in the plan.
PASSWORDS = {
    "databasePassword": "Db-distinctive-Value-4711",
    "jwtSecret": "Jwt-distinctive-Value-0815",
    "redisPassword": "Redis-distinctive-Value-2342",
}
BACKEND_IMAGE = "registry.websys.company.com/websys/backend"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    crt, key = make_certificate(tmp_path_factory.mktemp("tls"))
    return [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"]


def swarm_plan(tls: list[str], sets: Sequence[str] = (), secrets: dict[str, str] | None = None) -> Plan:
    chosen = {**PASSWORDS, **(secrets or {})}
    return plan_for(
        STACK,
        sets=["platform=swarm", *ROLLOUT, *sets],
        secrets=[*tls, *(f"{key}={value}" for key, value in chosen.items())],
    )


@pytest.fixture(scope="module")
def plan(tls: list[str]) -> Plan:
    return swarm_plan(tls)


def service(plan: Plan, name: str) -> PlannedResource:
    matches = [r for r in plan.of_type(SERVICE) if r.inputs["name"] == f"websys-{STACK}-{name}"]
    assert len(matches) == 1, f"no single service {name!r}"
    return matches[0]


def networks_of(plan: Plan, resource: PlannedResource) -> list[str]:
    """The names of a service's networks, which it references by id (the provider's id, mocked)."""
    names = {digest(network.type, network.name): network.inputs["name"] for network in plan.of_type(NETWORK)}
    return [names[item["id"]] for item in resource.inputs["taskSpec"]["networksAdvanceds"]]


def pinned(image: str) -> str:
    """The tag of a `name:tag@sha256:<digest>` reference, which services are given (read back so)."""
    tag, sep, found = image.partition("@sha256:")
    assert sep, image
    assert re.fullmatch(r"[0-9a-f]{64}", found), image
    return tag


def container_spec(resource: PlannedResource) -> dict[str, Any]:
    spec: dict[str, Any] = resource.inputs["taskSpec"]["containerSpec"]
    return spec


def names_by_purpose(plan: Plan, type_token: str, label: str) -> dict[str, str]:
    found = {}
    for resource in plan.of_type(type_token):
        labels = {item["label"]: item["value"] for item in resource.inputs["labels"]}
        found[labels[label]] = resource.inputs["name"]
    return found


def secret_names(plan: Plan) -> dict[str, str]:
    return names_by_purpose(plan, SWARM_SECRET, "com.websys.secret")


def config_names(plan: Plan) -> dict[str, str]:
    return names_by_purpose(plan, SERVICE_CONFIG, "com.websys.config")


STATELESS = {"frontend": 2, "backend": 3, "nginx": 2}  # production's blue replicas; swarm.proxyReplicas
DATA = {
    "postgres-primary": "websys.postgres-primary",
    "postgres-replica-1": "websys.postgres-replica-1",
    "redis": "websys.redis",
}


# --- the platform setting -------------------------------------------------------------------------


def _settings(stack: str, sets: Sequence[str], secrets: Sequence[str] = ()) -> None:
    config = stack_config(stack, sets, secrets)
    parse_settings(stack, config.engine_form(), sorted(config.secret_keys))


@pytest.mark.parametrize("stack", ["development", "staging"])
def test_swarm_is_refused_outside_production(stack: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _settings(stack, ["platform=swarm"])
    assert str(caught.value) == (
        f"Pulumi.{stack}.yaml: websys:platform: swarm is for production only; "
        f"{stack} runs on one Docker host (platform: host)"
    )


def test_swarm_needs_the_edge_certificate_and_an_unknown_platform_is_refused(tls: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        _settings(STACK, ["platform=swarm"])
    assert "websys:tlsCertificate: platform swarm needs the edge's certificate" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        _settings(STACK, ["platform=kubernetes"])
    assert "websys:platform: input should be 'host' or 'swarm'" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        _settings(STACK, ["platform=swarm", "swarm.updateParallelism=0"], tls)
    assert "websys:swarm.updateParallelism: input should be greater than or equal to 1" in str(caught.value)
    _settings(STACK, ["platform=swarm"], tls)  # accepted


def test_the_cli_refuses_swarm_in_staging_with_one_line() -> None:
    result = run_websys("plan", "staging", "--stack-file", str(stack_file("staging")), "--set", "platform=swarm")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "--set platform=swarm: websys:platform: swarm is for production only; "
        "staging runs on one Docker host (platform: host)"
    ]


def test_host_platform_stacks_have_no_swarm_service(stack_plans: dict[str, Plan]) -> None:
    for stack, host_plan in stack_plans.items():
        assert host_plan.of_type(SERVICE) == [], stack
        assert host_plan.of_type(SWARM_SECRET) == [], stack
        assert host_plan.outputs["platform"] == "host"


# --- services, rollout and placement --------------------------------------------------------------


def test_stateless_services_run_the_active_colors_replicas(plan: Plan) -> None:
    for name, replicas in STATELESS.items():
        assert service(plan, name).inputs["mode"] == {"replicated": {"replicas": replicas}}, name
    assert pinned(container_spec(service(plan, "backend"))["image"]) == f"{BACKEND_IMAGE}:1.0.0"
    # Nothing of the application, the edge or the data tier is a plain container any more.
    for resource in plan.of_type(CONTAINER):
        labels = {item["label"]: item["value"] for item in resource.inputs.get("labels", [])}
        assert labels.get("com.websys.service") not in {"frontend", "backend", "nginx", "postgres", "redis"}
    assert plan.outputs["services"] == {
        "frontend": "websys-production-frontend",
        "backend": "websys-production-backend",
        "nginx": "websys-production-nginx",
    }


def test_stateless_services_roll_start_first_and_roll_back_on_failure(plan: Plan) -> None:
    for name in STATELESS:
        resource = service(plan, name)
        assert resource.inputs["updateConfig"] == {
            "order": "start-first",
            "failureAction": "rollback",
            "parallelism": 2,
            "delay": "15s",
            "monitor": "45s",
            "maxFailureRatio": "0",
        }, name
        assert resource.inputs["rollbackConfig"] == {
            "order": "start-first",
            "failureAction": "pause",
            "parallelism": 2,
            "delay": "15s",
            "monitor": "45s",
            "maxFailureRatio": "0",
        }, name
        task = resource.inputs["taskSpec"]
        assert task["placement"]["prefs"] == ["node.labels.websys.zone"], "the descriptor swarmkit reads"
        assert task["restartPolicy"]["condition"] == "any"
        limits, reservation = task["resources"]["limits"], task["resources"]["reservation"]
        assert 0 < reservation["nanoCpus"] <= limits["nanoCpus"]
        assert 0 < reservation["memoryBytes"] <= limits["memoryBytes"]
        assert task["logDriver"] == {"name": "json-file", "options": {"max-size": "10m", "max-file": "10"}}
        spec = container_spec(resource)
        assert spec["healthcheck"]["tests"][0] == "CMD"
        assert spec["capDrops"] == ["ALL"]
        # Waits for the rollout: `pulumi up` fails if it does not converge.
        assert parse_go_duration(resource.inputs["convergeConfig"]["timeout"]) > 0
        assert not resource.options.delete_before_replace
        assert resource.options.replace_on_changes == []
    backend = service(plan, "backend")
    assert backend.inputs["taskSpec"]["resources"]["limits"] == {"nanoCpus": 1_000_000_000, "memoryBytes": 1024**3}
    assert container_spec(backend)["readOnly"] is True
    assert container_spec(backend)["user"] == "1000:1000"


def test_only_nginx_publishes_ports_80_and_443_through_the_ingress(plan: Plan) -> None:
    published = {r.inputs["name"]: r.inputs.get("endpointSpec", {}).get("ports") for r in plan.of_type(SERVICE)}
    assert {name for name, ports in published.items() if ports} == {"websys-production-nginx"}
    ports = published["websys-production-nginx"]
    assert ports is not None
    assert sorted((p["targetPort"], p["publishedPort"], p["publishMode"], p["protocol"]) for p in ports) == [
        (80, 80, "ingress", "tcp"),
        (443, 443, "ingress", "tcp"),
    ]


def test_data_services_are_pinned_to_their_labelled_nodes_with_their_volumes(plan: Plan) -> None:
    data_network = "websys-production-data"
    for name, label in DATA.items():
        resource = service(plan, name)
        assert resource.inputs["mode"] == {"replicated": {"replicas": 1}}, name
        placement = resource.inputs["taskSpec"]["placement"]
        assert placement == {"constraints": [f"node.labels.{label} == true"], "maxReplicas": 1}, name
        volumes = [m for m in container_spec(resource)["mounts"] if m["type"] == "volume"]
        assert [m["source"] for m in volumes] == [f"websys-production-{name}-data"], name
        assert networks_of(plan, resource) == [data_network], name
        assert "name" not in resource.inputs["taskSpec"]["networksAdvanceds"][0], "by id, or it is replaced each run"
        # One task on one volume: the old task stops before the new one starts.
        assert resource.inputs["updateConfig"]["order"] == "stop-first", name
        assert resource.inputs["rollbackConfig"]["order"] == "stop-first", name
        assert is_stateful(resource.to_json()), name
    primary = container_spec(service(plan, "postgres-primary"))
    assert primary["args"] == ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf"]
    assert "commands" not in primary, "the image's entrypoint must stay (it runs initdb)"
    aliases = service(plan, "postgres-primary").inputs["taskSpec"]["networksAdvanceds"][0]["aliases"]
    assert "postgres-primary" in aliases
    assert "redis" in service(plan, "redis").inputs["taskSpec"]["networksAdvanceds"][0]["aliases"]


def test_overlays_are_encrypted_and_attachable_and_data_is_internal(plan: Plan) -> None:
    networks = {r.inputs["name"]: r.inputs for r in plan.of_type(NETWORK)}
    edge, data = networks["websys-production-edge"], networks["websys-production-data"]
    for network in (edge, data):
        assert network["driver"] == "overlay"
        assert network["attachable"] is True
        assert network["options"] == {"encrypted": "true"}
    assert data["internal"] is True
    assert not edge.get("internal", False)
    subnet = stack_settings(STACK).data_network.subnet
    gateway = str(next(ipaddress.IPv4Network(subnet).hosts()))
    # The gateway as Docker's IPAM assigns it, so the config reads back unchanged.
    assert data["ipamConfigs"] == [{"subnet": subnet, "gateway": gateway}], "pg_hba.conf admits this"
    assert networks_of(plan, service(plan, "frontend")) == ["websys-production-edge"], "no data network"
    assert networks_of(plan, service(plan, "backend")) == ["websys-production-edge", "websys-production-data"]
    assert networks_of(plan, service(plan, "nginx")) == ["websys-production-edge"]


# --- secrets and configs --------------------------------------------------------------------------


def test_no_secret_reaches_a_service_through_its_environment(plan: Plan) -> None:
    text = plan.dumps()
    for value in PASSWORDS.values():
        assert value not in text
    for resource in plan.of_type(SERVICE):
        env = container_spec(resource).get("env", {})
        assert SECRET not in env.values(), resource.name
        assert not any(key in env for key in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "POSTGRES_PASSWORD"))
    backend = container_spec(service(plan, "backend"))
    mounted = {item["fileName"]: item for item in backend["secrets"]}
    assert backend["env"] == {
        "NODE_ENV": "production",
        "PORT": "8000",
        "DATABASE_URL_FILE": "/run/secrets/database-url",
        "REDIS_URL_FILE": "/run/secrets/redis-url",
        "JWT_SECRET_FILE": "/run/secrets/jwt-secret",
    }
    assert set(mounted) == {"database-url", "redis-url", "jwt-secret"}
    for item in mounted.values():
        assert (item["fileUid"], item["fileGid"], item["fileMode"]) == ("1000", "1000", 0o400)
    names = secret_names(plan)
    assert {item["secretName"] for item in mounted.values()} == {
        names["database-url"],
        names["redis-url"],
        names["jwt-secret"],
    }
    assert container_spec(service(plan, "postgres-primary"))["env"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/database-password"
    )
    for resource in plan.of_type(SWARM_SECRET):
        assert resource.inputs["data"] == SECRET
        assert "data" in resource.options.additional_secret_outputs
    nginx = container_spec(service(plan, "nginx"))
    assert sorted(item["fileName"] for item in nginx["secrets"]) == ["websys.crt", "websys.key"]
    assert {item["fileName"]: item["fileMode"] for item in nginx["secrets"]}["websys.key"] == 0o400


def test_rendered_files_are_swarm_configs_from_the_host_renderers(plan: Plan) -> None:
    assert set(config_names(plan)) == {
        "nginx-conf",
        "postgresql-conf",
        "pg-hba-conf",
        "postgres-init",
        "postgres-replica-1-start",
        "redis-conf",
    }
    nginx_conf = next(r for r in plan.of_type(SERVICE_CONFIG) if r.name.endswith("-nginx-conf")).inputs["dataRaw"]
    # Upstreams are the services' virtual IPs, not per-replica containers.
    assert "server websys-production-backend:8000 " in nginx_conf
    assert "server websys-production-frontend:3000 " in nginx_conf
    assert "-blue-" not in nginx_conf
    assert "ssl_certificate /run/secrets/websys.crt;" in nginx_conf
    nginx = container_spec(service(plan, "nginx"))
    assert [(c["fileName"], c["configName"]) for c in nginx["configs"]] == [
        ("/etc/nginx/nginx.conf", config_names(plan)["nginx-conf"])
    ]
    init = [c for c in container_spec(service(plan, "postgres-primary"))["configs"] if "initdb" in c["fileName"]]
    assert init[0]["fileMode"] == 0o555


def test_the_swarm_plan_is_reproducible_and_warning_free(plan: Plan, tls: list[str]) -> None:
    """The same program twice: byte-identical (names carry no randomness, no timestamps)."""
    assert swarm_plan(tls).dumps() == plan.dumps()
    assert [message for level, message in plan.diagnostics if level in ("warning", "error")] == []


def test_names_follow_the_content_and_nothing_else() -> None:
    assert config_name("websys-production-nginx-conf", "a") == config_name("websys-production-nginx-conf", "a")
    assert config_name("websys-production-nginx-conf", "a") != config_name("websys-production-nginx-conf", "b")
    with pytest.raises(ValueError, match="longer than"):
        config_name("x" * 60, "a")


def _changed_names(before: Plan, after: Plan) -> tuple[set[str], set[str]]:
    """Configs by their content-named names; secrets (whose names are random versions, the same in
    every plan) by what the engine would do: a secret replaced, create first, is a rotated one."""
    old_configs, new_configs = config_names(before), config_names(after)
    assert old_configs.keys() == new_configs.keys()
    assert secret_names(before).keys() == secret_names(after).keys()
    outcomes = classify_plans(before, after)
    rotated = set()
    for resource in after.of_type(SWARM_SECRET):
        outcome = outcomes.get(resource.urn)
        if outcome is not None:
            assert outcome.action == REPLACE_CREATE_FIRST, outcome
            assert "name" in outcome.paths, "a new secret has a new name, so old and new can coexist"
            rotated.add(next(x["value"] for x in resource.inputs["labels"] if x["label"] == "com.websys.secret"))
    return {purpose for purpose in old_configs if old_configs[purpose] != new_configs[purpose]}, rotated


@pytest.mark.parametrize(
    ("sets", "secrets", "configs_changed", "secrets_changed"),
    [
        (["proxy.clientMaxBodySizeMb=20"], {}, {"nginx-conf"}, set()),
        (["postgres.maxConnections=150"], {}, {"postgresql-conf"}, set()),
        ([], {"jwtSecret": "Jwt-rotated-Value-9999"}, set(), {"jwt-secret"}),
        ([], {"redisPassword": "Redis-rotated-Value-1111"}, set(), {"redis-password", "redis-auth", "redis-url"}),
        (["backend.blue.replicas=5", "swarm.proxyReplicas=3"], {}, set(), set()),
    ],
    ids=["nginx-setting", "postgres-setting", "jwt-rotation", "redis-rotation", "replicas-only"],
)
def test_config_and_secret_names_change_when_and_only_when_their_content_does(
    plan: Plan,
    tls: list[str],
    sets: list[str],
    secrets: dict[str, str],
    configs_changed: set[str],
    secrets_changed: set[str],
) -> None:
    after = swarm_plan(tls, sets, secrets)
    assert _changed_names(plan, after) == (configs_changed, secrets_changed)
    for value in secrets.values():
        assert value not in after.dumps()
    # A new config or secret is a changed reference in the services that mount it: an update, which rolls.
    outcomes = classify_plans(plan, after)
    reference = re.compile(r"taskSpec\.containerSpec\.(configs|secrets)\[\d+\]\.(config|secret)(Id|Name)")
    scaling = re.compile(r"(mode\.replicated\.replicas|convergeConfig\.timeout)")
    changed_services = set()
    # The platform's resources (monitoring, which stays containers, is not this test's subject).
    for outcome in (o for o in outcomes.values() if "websys:swarm:SwarmPlatform" in o.urn):
        if outcome.type == SERVICE:
            changed_services.add(outcome.name)
            assert outcome.action == UPDATE, outcome
            assert all(reference.fullmatch(path) or scaling.fullmatch(path) for path in outcome.paths), outcome.paths
        else:
            assert outcome.type in (SWARM_SECRET, SERVICE_CONFIG, "random:index/randomId:RandomId"), outcome
            assert outcome.action == REPLACE_CREATE_FIRST, outcome
    mounting = {
        r.name
        for r in after.of_type(SERVICE)
        for item in [*container_spec(r).get("configs", []), *container_spec(r).get("secrets", [])]
        if item.get("configName", item.get("secretName"))
        in {
            *(config_names(after)[p] for p in configs_changed),
            *(secret_names(after)[p] for p in secrets_changed),
        }
    }
    if configs_changed or secrets_changed:
        assert changed_services == mounting, "exactly the services that mount a changed file roll"


# --- a new image tag ------------------------------------------------------------------------------


def test_an_image_tag_changes_only_that_services_image(plan: Plan, tls: list[str], tmp_path: Path) -> None:
    after = swarm_plan(tls, [f"backend.blue.image={BACKEND_IMAGE}:1.0.1"])
    before_file, after_file = tmp_path / "before.json", tmp_path / "after.json"
    before_file.write_text(plan.dumps())
    after_file.write_text(after.dumps())
    # Compared as recorded plans, as `websys diff` reads them.
    diff = diff_plans(json.loads(before_file.read_text()), json.loads(after_file.read_text()))
    assert diff.added == []
    assert diff.removed == []
    assert [(item.name, item.type) for item in diff.changed] == [("swarm-backend-service", SERVICE)]
    changes = diff.changed[0].changes
    assert [(c.path, pinned(c.before), pinned(c.after)) for c in changes] == [
        ("inputs.taskSpec.containerSpec.image", f"{BACKEND_IMAGE}:1.0.0", f"{BACKEND_IMAGE}:1.0.1")
    ]
    backend = after.by_name("swarm-backend-service")
    assert backend.urn == plan.by_name("swarm-backend-service").urn
    assert backend.options.replace_on_changes == []
    assert backend.options.delete_before_replace is False
    markdown = run_websys("diff", str(before_file), str(after_file))
    assert markdown.returncode == 0, markdown.stderr
    assert "taskSpec.containerSpec.image" in markdown.stdout


def test_the_active_color_drives_the_service(plan: Plan, tls: list[str]) -> None:
    after = swarm_plan(
        tls,
        [
            f"backend.green.image={BACKEND_IMAGE}:2.0.0",
            "backend.green.replicas=4",
            "frontend.green.replicas=2",
            "deploy.activeColor=green",
        ],
    )
    backend = service(after, "backend")
    assert backend.urn == service(plan, "backend").urn, "the same service, updated in place"
    assert pinned(container_spec(backend)["image"]) == f"{BACKEND_IMAGE}:2.0.0"
    assert backend.inputs["mode"] == {"replicated": {"replicas": 4}}
    assert len(after.of_type(SERVICE)) == len(plan.of_type(SERVICE)), "no second color of services"


def test_the_swarm_nginx_conf_passes_nginx_t_as_mounted(plan: Plan, tmp_path: Path) -> None:
    """`nginx -t` on the nginx.conf config from the plan, as a task sees it: at /etc/nginx/nginx.conf,
    the certificate and key under /run/secrets, the services' names resolvable. Inside a private
    mount namespace; the host is not touched."""
    config = next(r for r in plan.of_type(SERVICE_CONFIG) if r.name.endswith("-nginx-conf")).inputs["dataRaw"]
    etc, secrets, logs = tmp_path / "etc-nginx", tmp_path / "secrets", tmp_path / "logs"
    for directory in (etc, secrets, logs):
        directory.mkdir()
    shutil.copy("/etc/nginx/mime.types", etc / "mime.types")
    (etc / "nginx.conf").write_text(config)
    crt, key = make_certificate(tmp_path / "ca")
    shutil.copy(crt, secrets / "websys.crt")
    shutil.copy(key, secrets / "websys.key")
    passwd, group, hosts = tmp_path / "passwd", tmp_path / "group", tmp_path / "hosts"
    passwd.write_text(Path("/etc/passwd").read_text() + "nginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin\n")
    group.write_text(Path("/etc/group").read_text() + "nginx:x:101:\n")
    hosts.write_text(
        "127.0.0.1 localhost websys-production-backend websys-production-frontend websys-production-grafana\n"
    )
    script = (
        'mount --bind "$1" /etc/nginx && mount --bind "$2" /etc/passwd && mount --bind "$3" /etc/group'
        ' && mount --bind "$4" /etc/hosts && mount --bind "$5" /var/log/nginx'
        ' && mount -t tmpfs tmpfs /run && mkdir /run/secrets && mount --bind "$6" /run/secrets'
        ' && exec "$7" -t -c /etc/nginx/nginx.conf'
    )
    result = subprocess.run(
        ["unshare", "--mount", "--", "sh", "-c", script, "sh", str(etc), str(passwd), str(group), str(hosts),
         str(logs), str(secrets), nginx_binary()],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr
