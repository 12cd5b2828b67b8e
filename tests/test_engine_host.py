"""The development and production plans (platform host) applied on a real Docker Engine.

Each stack's plan is recorded from a stack file made for the test (the tests' own one with every
value the tests depend on set explicitly, docker.host pointing at the engine and the edge's TLS
material given as secrets), then created by the test applier (tests/engine/applier.py). The
development plan comes up whole with the images it builds: the reference app and the backup job,
built from the repository's Dockerfiles (tests/engine/build.py); the official images are
look-alikes (tests/engine/images), as is production's app tier. The stacks run one after the
other: both publish 443.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge_support import make_certificate
from tests.engine import build
from tests.engine.applier import BUILD, LOCAL_COMMAND, ApplyError
from tests.engine.checks import (
    Load,
    Reply,
    can_connect,
    capability_mask,
    https_get,
    https_post,
    process_status,
    root_mount_options,
    tcp_listener,
    wait_until,
)
from tests.engine.daemon import Engine
from tests.engine.deployment import Deployment, deployed, replan
from tests.engine.fixtures import LookalikeImages

FRONTEND = "registry.websys.company.com/websys/frontend:1.0.0"
BACKEND = "registry.websys.company.com/websys/backend:1.0.0"
IMAGES = [
    f"{tier}.{color}.image={image}"
    for tier, image in (("frontend", FRONTEND), ("backend", BACKEND))
    for color in ("blue", "green")
]
# Probes every 2 s instead of the default 30 s: a new replica is healthy (and the apply goes on)
# seconds after it starts; what the probes check is the plan's.
FAST_PROBES = ["frontend.healthcheck.intervalSeconds=2", "backend.healthcheck.intervalSeconds=2"]
BOTH_COLORS = [
    *IMAGES,
    "frontend.blue.replicas=1",
    "frontend.green.replicas=1",
    "backend.blue.replicas=1",
    "backend.green.replicas=1",
    "deploy.activeColor=blue",
]  # fmt: skip
# Development builds its own images (docker/*.Dockerfile): both colors run the reference app.
BUILT = {
    "frontend": "websys-local/frontend:dev",
    "backend": "websys-local/backend:dev",
    "backup": "websys-local/backup:dev",
}
DEVELOPMENT = [
    *FAST_PROBES,
    "images.build=[frontend, backend, backup]",
    *(f"{tier}.{color}.image={BUILT[tier]}" for tier in ("frontend", "backend") for color in ("blue", "green")),
    f"backup.image={BUILT['backup']}",
    *(f"{tier}.{color}.replicas=1" for tier in ("frontend", "backend") for color in ("blue", "green")),
    "deploy.activeColor=blue",
    "database.name=websys_db_dev",
    "postgres.replicas=0",
    "monitoring.enabled=true",
]
PRODUCTION = [
    *FAST_PROBES,
    *IMAGES,
    "frontend.blue.replicas=1",
    "frontend.green.replicas=0",
    "backend.blue.replicas=2",
    "backend.green.replicas=0",
    "deploy.activeColor=blue",
    "postgres.replicas=1",
    "postgres.memoryMb=1024",
    "postgres.sharedBuffersMb=128",
    "postgres.effectiveCacheSizeMb=384",
]  # fmt: skip
DOMAINS = {"development": ("localhost", "localhost"), "production": ("websys.example.test", "api.websys.example.test")}
# A path the API answers through nginx: the reference app's health (development), anything for the
# look-alike (production).
API_PATHS = {"development": "/api/health", "production": "/users"}


def tls_secrets(directory: Path) -> list[str]:
    crt, key = make_certificate(directory)
    return [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"]


def domain_sets(stack: str) -> list[str]:
    frontend, api = DOMAINS[stack]
    return [f"domains.frontend={frontend}", f"domains.api={api}"]


# --- checks shared by both stacks -------------------------------------------------------------------


def check_hardening(deployment: Deployment) -> None:
    """Every container runs, healthy where it has a healthcheck, with the plan's hardening in force."""
    names = [deployment.container_name(r.name) for r in deployment.containers()]

    def all_running() -> bool:
        listing = deployment.engine.docker("inspect", "--format", "{{.State.Running}}", *names).stdout
        return listing.split() == ["true"] * len(names)

    wait_until(all_running, "every container running", timeout=90)
    for resource in deployment.containers():
        inputs = deployment.inputs(resource.name)
        state = deployment.state(resource.name)
        assert state["State"]["Running"], resource.name
        if inputs.get("healthcheck"):
            assert state["State"]["Health"]["Status"] == "healthy", resource.name
        status = process_status(state["State"]["Pid"])
        if "no-new-privileges:true" in inputs.get("securityOpts", []):
            assert status["NoNewPrivs"] == "1", resource.name
        capabilities = inputs.get("capabilities", {})
        if capabilities.get("drops") == ["ALL"]:
            assert int(status["CapEff"], 16) & ~capability_mask(capabilities.get("adds", [])) == 0, resource.name
            assert int(status["CapBnd"], 16) == capability_mask(capabilities.get("adds", [])), resource.name
        if inputs.get("user"):
            uid, _, gid = str(inputs["user"]).partition(":")
            assert status["Uid"].split() == [uid] * 4, resource.name
            if gid:
                assert status["Gid"].split() == [gid] * 4, resource.name
        if inputs.get("readOnly"):
            assert "ro" in root_mount_options(state["State"]["Pid"]), resource.name


def check_uploads(deployment: Deployment) -> None:
    """Every uploaded file is where the plan puts it, with its mode, owner and group."""
    checked = 0
    for resource in deployment.containers():
        for upload in deployment.inputs(resource.name).get("uploads", []):
            mode = upload.get("permissions") or ("744" if upload.get("executable") else "644")
            expected = f"{int(mode, 8):o} {upload.get('owner') or 0} {upload.get('group') or 0}"
            found = deployment.exec(resource.name, "stat", "-c", "%a %u %g", upload["file"]).strip()
            assert found == expected, f"{resource.name}: {upload['file']}"
            checked += 1
    assert checked > 0


def check_postgres_quiet(deployment: Deployment) -> None:
    """The healthcheck probes leave no FATAL line in PostgreSQL's log."""
    for resource in deployment.containers():
        if resource.name.startswith("postgres-"):
            state = deployment.state(resource.name)
            assert state["State"]["Health"]["Status"] == "healthy"
            assert len(state["State"]["Health"]["Log"]) >= 1, "probed at least once"
            logs = deployment.engine.docker("logs", deployment.container_name(resource.name))
            assert "FATAL" not in logs.stdout + logs.stderr, resource.name


def check_edge(deployment: Deployment, color: str) -> None:
    frontend, api = DOMAINS[deployment.stack]
    page = https_get(deployment.engine, frontend, "/")
    assert page.status == 200
    assert f"frontend-{color}-" in page.served_by
    for name in ("strict-transport-security", "content-security-policy", "x-content-type-options", "x-frame-options"):
        assert name in page.headers, name
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers.get("x-xss-protection", "0") == "0"
    answer = https_get(deployment.engine, api, API_PATHS[deployment.stack])
    assert answer.status == 200
    assert f"backend-{color}-" in answer.served_by


def https_request(deployment: Deployment, path: str, body: Any, token: str | None = None) -> Reply:
    """POST a JSON body to the API through nginx (in the engine's namespace)."""
    _, api = DOMAINS[deployment.stack]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return https_post(deployment.engine, api, path, json.dumps(body).encode(), headers)


def check_redis_auth(deployment: Deployment) -> None:
    """A client without the password is refused: redis-cli in Redis's container, over its network
    address (not loopback), as any container on the data network would connect."""
    redis = deployment.container_name("redis-server")
    refused = deployment.engine.docker("exec", redis, "redis-cli", "-h", redis, "ping", check=False)
    assert "NOAUTH" in refused.stdout + refused.stderr
    answered = deployment.engine.docker(
        "exec", redis, "sh", "-c", 'REDISCLI_AUTH="$(cat /run/secrets/redis-password)" redis-cli --no-auth-warning ping'
    )
    assert answered.stdout.strip() == "PONG"


def prometheus_targets(deployment: Deployment) -> list[dict[str, str]]:
    text = deployment.exec("monitoring-prometheus", "wget", "-q", "-O", "-", "http://127.0.0.1:9090/api/v1/targets")
    return [
        {"job": t["labels"].get("job", ""), "health": t["health"], "error": t.get("lastError", "")}
        for t in json.loads(text)["data"]["activeTargets"]
    ]


def check_prometheus_targets(deployment: Deployment) -> None:
    def all_up() -> bool:
        targets = prometheus_targets(deployment)
        return bool(targets) and all(target["health"] == "up" for target in targets)

    with contextlib.suppress(AssertionError):
        wait_until(all_up, "every Prometheus target up", timeout=90, pause=3)
    targets = prometheus_targets(deployment)
    assert targets
    assert [t for t in targets if t["health"] != "up"] == []


def engine_host_addresses(engine: Engine) -> list[str]:
    """Every IPv4 address of the engine's host (its network namespace), bridges included."""
    listing = subprocess.run(
        engine.in_netns(["ip", "-4", "-o", "addr", "show"]), capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return [line.split()[3].split("/")[0] for line in listing.splitlines()]


def check_data_network_closed(deployment: Deployment) -> None:
    """Nothing on the data network reaches the outside, nor any address of the engine's host."""
    engine = deployment.engine
    outside, port = tcp_listener(None, engine.uplink_host)
    on_host, host_port = tcp_listener(engine, "0.0.0.0")  # noqa: S104 the engine host's every address
    try:
        data = deployment.container_name("postgres-primary")  # on the data network only
        frontend = next(r.name for r in deployment.containers() if r.name.startswith("frontend-"))
        edge = deployment.container_name(frontend)
        assert can_connect(engine, edge, engine.uplink_host, port), "the edge network reaches the outside"
        assert not can_connect(engine, data, engine.uplink_host, port)
        subnet = json.loads(engine.docker("network", "inspect", f"websys-{deployment.stack}-data").stdout)[0]
        first = str(next(ipaddress.ip_network(subnet["IPAM"]["Config"][0]["Subnet"]).hosts()))
        for address in sorted({first, *engine_host_addresses(engine)}):
            if address.startswith("127."):
                continue  # the container's own loopback, not the host's
            assert not can_connect(engine, data, address, host_port), f"the data network reaches the host at {address}"
    finally:
        outside.close()
        on_host.close()


# --- development ----------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def development(
    engine: Engine, lookalikes: LookalikeImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    secrets = tls_secrets(tmp_path_factory.mktemp("tls-development"))
    sets = [*DEVELOPMENT, *domain_sets("development")]
    with deployed(engine, lookalikes, "development", sets, secrets, build_images=True) as found:
        yield found


class TestDevelopment:
    def test_every_container_is_healthy_with_the_plans_hardening(self, development: Deployment) -> None:
        check_hardening(development)

    def test_uploads_have_the_plans_mode_and_owner(self, development: Deployment) -> None:
        check_uploads(development)

    def test_postgres_healthchecks_log_no_fatal_line(self, development: Deployment) -> None:
        check_postgres_quiet(development)

    def test_nginx_answers_https_with_the_security_headers_and_routes_to_the_active_color(
        self, development: Deployment
    ) -> None:
        check_edge(development, "blue")

    def test_redis_refuses_unauthenticated_commands(self, development: Deployment) -> None:
        check_redis_auth(development)

    def test_prometheus_scrapes_every_target(self, development: Deployment) -> None:
        check_prometheus_targets(development)

    def test_the_data_network_has_no_way_out(self, development: Deployment) -> None:
        check_data_network_closed(development)

    def test_a_broken_nginx_push_is_refused_and_the_running_config_keeps_serving(self, development: Deployment) -> None:
        inputs = development.command_inputs("proxy-config")
        broken = json.loads(json.dumps(inputs))
        broken["environment"]["WEBSYS_NGINX_CONFIG"] += "\nthis_is_not_a_directive on;\n"
        with pytest.raises(ApplyError, match="nginx -t refused the new configuration"):
            development.applier.run_command("proxy-config", broken)
        check_edge(development, "blue")
        development.applier.run_command("proxy-config", inputs)  # the good one applies again
        check_edge(development, "blue")

    def test_a_broken_prometheus_push_is_refused_and_prometheus_keeps_its_config(self, development: Deployment) -> None:
        inputs = development.command_inputs("monitoring-prometheus-config")
        broken = json.loads(json.dumps(inputs))
        broken["environment"]["WEBSYS_PROMETHEUS_CONFIG"] += "\nscrape_configs: [this is not a list of jobs\n"
        with pytest.raises(ApplyError, match="promtool refused the new configuration"):
            development.applier.run_command("monitoring-prometheus-config", broken)
        development.applier.run_command("monitoring-prometheus-config", inputs)
        check_prometheus_targets(development)

    def test_a_blue_green_switch_under_load_fails_no_request(
        self, development: Deployment, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        _, api = DOMAINS["development"]
        sets = [*DEVELOPMENT, *domain_sets("development"), "deploy.activeColor=green"]
        secrets = [
            f"{key}={development.command_inputs('proxy-config')['environment'][variable]}"
            for key, variable in (
                ("tlsCertificate", "WEBSYS_TLS_CERTIFICATE"),
                ("tlsPrivateKey", "WEBSYS_TLS_PRIVATE_KEY"),
            )
        ]
        green = replan(development.engine, "development", sets, secrets)
        push = green.inputs[green.resource("proxy-config", LOCAL_COMMAND).urn]
        path = API_PATHS["development"]
        with Load(development.engine, api, path) as load:
            wait_until(lambda: len(load.replies) >= 20, "requests before the switch", timeout=30, pause=0.1)
            switched = time.monotonic()
            development.applier.run_command("proxy-config", push)
            wait_until(lambda: "backend-green-" in https_get(development.engine, api, path).served_by,
                       "the API answered by green", timeout=30, pause=0.2)  # fmt: skip
            green_from = time.monotonic()
            wait_until(lambda: sum(stamp > green_from for stamp, _, _ in load.replies) >= 20,
                       "requests after the switch", timeout=30, pause=0.1)  # fmt: skip
        assert load.failures == []
        assert load.bad() == []
        before = [host for stamp, _, host in load.replies if stamp < switched]
        assert before
        assert all("backend-blue-" in host for host in before)
        after = [host for stamp, _, host in load.replies if stamp > green_from]
        assert after
        assert all("backend-green-" in host for host in after)
        check_edge(development, "green")
        development.applier.run_command("proxy-config", development.command_inputs("proxy-config"))
        check_edge(development, "blue")

    def test_the_backup_job_backs_up_to_the_s3_emulator(self, development: Deployment) -> None:
        job = development.inputs("backup-job")
        env = dict(item.split("=", 1) for item in job["envs"])
        # The bucket is an aws:s3 resource, which the applier does not create (it is no docker:*
        # resource): made here in the emulator container, as the aws provider would.
        emulator = development.container_name("s3-emulator")
        development.engine.docker(
            "exec", emulator, "python3", "-c",
            "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:5000', region_name='us-east-1',"
            " aws_access_key_id='test', aws_secret_access_key='test').create_bucket("
            f"Bucket={env['WEBSYS_BACKUP_BUCKET']!r}, CreateBucketConfiguration={{'LocationConstraint':"
            f" {env['AWS_DEFAULT_REGION']!r}}})",
        )  # fmt: skip
        name = development.container_name("backup-job")
        development.engine.docker("exec", "-e", "WEBSYS_BACKUP_SCHEDULE=", name, "websys", *job["command"], timeout=180)
        listed = development.engine.docker("exec", name, "websys", "backup", "--list", check=False, timeout=60)
        assert env["WEBSYS_BACKUP_PREFIX"] in listed.stdout, listed.stderr

    def test_the_backup_jobs_restore_drill_runs(self, development: Deployment) -> None:
        """What the job's WEBSYS_VERIFY_SCHEDULE runs: the latest backup restored into a scratch
        database and compared (after the backup test above made one)."""
        name = development.container_name("backup-job")
        drill = development.engine.docker("exec", name, "websys", "verify-backup", check=False, timeout=180)
        assert drill.returncode == 0, drill.stderr[-1500:]

    # The reference app, built from the repository's Dockerfiles, as a user's `make up` runs it.

    def test_the_page_is_served_through_nginx_over_https(self, development: Deployment) -> None:
        frontend, _ = DOMAINS["development"]
        page = https_get(development.engine, frontend, "/")
        assert (page.status, page.headers["content-type"]) == (200, "text/html")
        assert "<title>WebSys</title>" in page.body
        envs = dict(item.split("=", 1) for item in development.inputs(self.replica("frontend"))["envs"])
        assert https_get(development.engine, frontend, "/config.json").json() == {
            "apiBaseUrl": envs["VITE_API_BASE_URL"].rstrip("/")
        }

    def test_the_api_reads_and_writes_postgresql_through_nginx(self, development: Deployment) -> None:
        _, api = DOMAINS["development"]
        assert https_get(development.engine, api, "/api/health").json() == {
            "status": "ok", "postgres": "ok", "redis": "ok"
        }  # fmt: skip
        session = https_request(development, "/api/session", {"user": "alice"})
        assert session.status == 201, session.body
        token = session.json()["token"]
        note = https_request(development, "/api/notes", {"body": "from the engine test"}, token=token)
        assert (note.status, note.json()["author"]) == (201, "alice"), note.body
        listed = https_get(development.engine, api, "/api/notes").json()
        assert "from the engine test" in [n["body"] for n in listed["notes"]]
        rows = development.exec(
            "postgres-primary", "psql", "-X", "-At", "-U", "postgres", "-d", "websys_db_dev",
            "-c", "SELECT author || ':' || body FROM notes WHERE author = 'alice'",
        )  # fmt: skip
        assert rows.splitlines() == ["alice:from the engine test"]
        assert https_get(development.engine, api, "/api/metrics").status == 404  # the metrics stay inside

    def test_the_backend_answers_health_and_metrics_inside_its_network(self, development: Deployment) -> None:
        script = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"
        backend = self.replica("backend")
        health = development.exec(backend, "python3", "-c", script, "http://127.0.0.1:8000/health")
        assert json.loads(health) == {"status": "ok", "postgres": "ok", "redis": "ok"}
        metrics = development.exec(backend, "python3", "-c", script, "http://127.0.0.1:8000/metrics")
        assert 'http_requests_total{method="GET",route="/health",status_code="200"}' in metrics
        assert "http_request_duration_seconds_bucket{" in metrics

    def test_prometheus_scrapes_the_backends_request_metrics(self, development: Deployment) -> None:
        query = "http://127.0.0.1:9090/api/v1/query?query=http_request_duration_seconds_count%7Bjob%3D%22backend%22%7D"

        def scraped() -> list[dict[str, Any]]:
            text = development.exec("monitoring-prometheus", "wget", "-q", "-O", "-", query)
            return list(json.loads(text)["data"]["result"])

        wait_until(lambda: bool(scraped()), "the backend's request histogram in Prometheus", timeout=90, pause=3)
        assert {series["metric"]["color"] for series in scraped()} == {"blue", "green"}

    def test_containers_run_the_built_images_by_id_and_a_rebuild_changes_nothing(self, development: Deployment) -> None:
        applier = development.applier
        for tier in ("frontend", "backend", "backup"):
            built = applier.built[BUILT[tier]]
            names = [self.replica(tier)] if tier != "backup" else ["backup-job"]
            for name in names:
                assert development.state(name)["Image"] == built, name
        again = build.build(development.engine, development.plan.inputs[development.find("images-backend", BUILD).urn])
        assert again == applier.built[BUILT["backend"]]

    @staticmethod
    def replica(tier: str) -> str:
        return f"{tier}-blue-1"


# --- production (platform host) -------------------------------------------------------------------


@pytest.fixture(scope="class")
def production(
    engine: Engine, lookalikes: LookalikeImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    secrets = tls_secrets(tmp_path_factory.mktemp("tls-production"))
    sets = [*PRODUCTION, *domain_sets("production"), "platform=host"]
    with deployed(engine, lookalikes, "production", sets, secrets) as found:
        yield found


class TestProduction:
    def test_every_container_is_healthy_with_the_plans_hardening(self, production: Deployment) -> None:
        check_hardening(production)

    def test_nginx_answers_https_for_both_domains_and_routes_to_the_active_color(self, production: Deployment) -> None:
        check_edge(production, "blue")

    def test_postgres_healthchecks_log_no_fatal_line(self, production: Deployment) -> None:
        check_postgres_quiet(production)

    def test_the_replica_streams_from_the_primary(self, production: Deployment) -> None:
        def psql(resource: str, query: str) -> str:
            return production.exec(resource, "psql", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", query)

        assert psql("postgres-primary", "SELECT state FROM pg_stat_replication").split() == ["streaming"]
        assert psql("postgres-replica-1", "SELECT pg_is_in_recovery()").strip() == "t"
        psql("postgres-primary", "CREATE TABLE replicated_check AS SELECT 4711 AS value")
        wait_until(
            lambda: (
                "4711" in psql("postgres-replica-1", "SELECT value FROM replicated_check").split()
                if "replicated_check" in psql("postgres-replica-1", "SELECT tablename FROM pg_tables")
                else False
            ),
            "the primary's row on the replica",
            timeout=30,
        )

    def test_redis_refuses_unauthenticated_commands(self, production: Deployment) -> None:
        check_redis_auth(production)

    def test_prometheus_scrapes_every_target(self, production: Deployment) -> None:
        check_prometheus_targets(production)

    def test_the_data_network_has_no_way_out(self, production: Deployment) -> None:
        check_data_network_closed(production)
