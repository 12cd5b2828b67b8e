"""The development plan's own images on a real Docker Engine: built from the repository's Dockerfiles
on a local Debian base, run with the plan's hardening, serving the page through nginx over HTTPS,
reading and writing PostgreSQL, and backing up into the S3 emulator with a restore drill.

What stands in for what is said in tests/engine_images.py: the builder (classic, no buildx here),
the container creation (the Engine API with the plan's inputs), and look-alikes of the official
images (PostgreSQL, Redis, nginx, moto). The reference app and the backup job are the real images.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
import yaml

from monitoring.prometheus import render_prometheus_config
from tests.engine_images import (
    Engine,
    base_image,
    build_from_plan,
    context_copy,
    create_from_plan,
    lookalike,
    running_engine,
    wait_healthy,
    wheelhouse,
)
from tests.live_servers import free_port
from tests.monitoring_support import running_prometheus
from tests.planning import CONTAINER, REMOTE_IMAGE, containers, plan_for, stack_settings
from websys import app_env, naming
from websys.plan import PROJECT_DIR, Plan, PlannedResource
from websys.render.nginx import render_nginx
from websys.settings import Settings

pytestmark = pytest.mark.timeout(2400)

DB_PASSWORD = "db-Pässword-for-the-engine-test"
REDIS_PASSWORD = "redis-password-for-the-engine-test"
JWT_SECRET = "jwt-secret-for-the-engine-test-" + "x" * 32
SETS = [
    "images.build=[frontend, backend, backup]",
    "frontend.blue.image=websys-local/frontend:engine",
    "frontend.green.image=websys-local/frontend:engine",
    "frontend.blue.replicas=1",
    "frontend.green.replicas=0",
    "backend.blue.image=websys-local/backend:engine",
    "backend.green.image=websys-local/backend:engine",
    "backend.blue.replicas=1",
    "backend.green.replicas=0",
    "backup.image=websys-local/backup:engine",
    "deploy.activeColor=blue",
    "monitoring.enabled=false",  # Prometheus and Grafana: their look-alikes are not part of this test
    "postgres.replicas=0",
]
SECRETS = [f"databasePassword={DB_PASSWORD}", f"redisPassword={REDIS_PASSWORD}", f"jwtSecret={JWT_SECRET}"]


@dataclass
class Stack:
    engine: Engine
    plan: Plan
    settings: Settings
    https_port: int
    s3_url: str
    built: dict[str, str] = field(default_factory=dict)  # tag -> image id
    running: dict[str, Any] = field(default_factory=dict)  # service -> container


def resource(plan: Plan, type_: str, name: str) -> PlannedResource:
    return next(r for r in plan.of_type(type_) if r.name == name)


def plain_envs(container: PlannedResource) -> list[str]:
    return [env for env in container.inputs.get("envs", []) if "=" in env]


def build_images(engine: Engine, plan: Plan, base: str, workdir: Path) -> dict[str, str]:
    built: dict[str, str] = {}
    wheels = wheelhouse(PROJECT_DIR / "docker" / "backup-requirements.txt")
    for build in plan.of_type("docker-build:index:Image"):
        location = build.inputs["context"]["location"]
        context = PROJECT_DIR / location
        if location == ".":  # the repository root, as its .dockerignore sends it, with the wheels
            context = context_copy(PROJECT_DIR, workdir / "backup-context", wheels)
        image_id = build_from_plan(engine, build, context, base)
        built.update(dict.fromkeys(build.inputs["tags"], image_id))
    return built


def start_stack(engine: Engine, workdir: Path) -> Stack:
    plan = plan_for("development", sets=SETS, secrets=SECRETS)
    settings = stack_settings("development", SETS)
    base = base_image(engine)
    stack = Stack(engine, plan, settings, https_port=free_port(), s3_url="")
    stack.built = build_images(engine, plan, base, workdir)
    # The plan's networks, with addresses from this engine's own pool (not the stack's subnet, which
    # another engine on this machine may use).
    for network in plan.of_type("docker:index/network:Network"):
        engine.client.networks.create(
            network.inputs["name"], driver="bridge", internal=bool(network.inputs.get("internal", False))
        )
    data, edge = naming.network_name("development", "data"), naming.network_name("development", "edge")

    # Look-alikes of the official images, as the data tier the app needs.
    postgres = engine.client.containers.run(
        lookalike(engine, "postgres", base),
        name="websys-development-postgres-primary",
        detach=True,
        network=data,
        environment={"POSTGRES_USER": settings.database.user, "POSTGRES_PASSWORD": DB_PASSWORD,
                     "POSTGRES_DB": settings.database.name},
    )  # fmt: skip
    engine.client.networks.get(data).disconnect(postgres)
    engine.client.networks.get(data).connect(postgres, aliases=[naming.POSTGRES_PRIMARY_HOST])
    redis = engine.client.containers.run(
        lookalike(engine, "redis", base),
        name="websys-development-redis",
        detach=True,
        network=data,
        environment={"REDIS_PASSWORD": REDIS_PASSWORD},
    )
    engine.client.networks.get(data).disconnect(redis)
    engine.client.networks.get(data).connect(redis, aliases=[naming.REDIS_HOST])
    stack.running.update(postgres=postgres, redis=redis)

    moto_wheels = Path(tempfile.mkdtemp(prefix="wsys-moto-", dir=workdir))
    (moto_wheels / "requirements.txt").write_text("moto[server]==5.2.5\n", encoding="utf-8")
    emulator_image = lookalike(engine, "moto", base, files={"wheels": wheelhouse(moto_wheels / "requirements.txt")})
    s3_port = free_port()
    emulator = resource(plan, CONTAINER, "s3-emulator")
    stack.running["s3"] = create_from_plan(
        engine, emulator, emulator_image, plain_envs(emulator), ports={"5000/tcp": ("127.0.0.1", s3_port)}
    )
    stack.s3_url = f"http://127.0.0.1:{s3_port}"

    # The reference app: the plan's containers, with the built images by id and the real secrets.
    backend_secrets = [
        f"DATABASE_URL={app_env.database_url(settings, DB_PASSWORD)}",
        f"REDIS_URL={app_env.redis_url(REDIS_PASSWORD)}",
        f"JWT_SECRET={JWT_SECRET}",
    ]
    for service, secrets in (("backend", backend_secrets), ("frontend", [])):
        container = containers(plan, service, "blue")[0]
        image = resource(plan, REMOTE_IMAGE, f"images-{service}-image").inputs["name"]
        stack.running[service] = create_from_plan(
            engine, container, stack.built[image], [*plain_envs(container), *secrets]
        )

    # nginx with the configuration the program renders and pushes, and a self-signed certificate.
    tls = workdir / "tls"
    tls.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    proxy = resource(plan, CONTAINER, "proxy-nginx")
    stack.running["nginx"] = create_from_plan(
        engine,
        proxy,
        lookalike(engine, "nginx", base),
        plain_envs(proxy),
        ports={"443/tcp": ("127.0.0.1", stack.https_port)},
        uploads={
            "/etc/nginx/nginx.conf": render_nginx(settings).encode(),
            "/etc/nginx/tls/websys.crt": (tls / "cert.pem").read_bytes(),
            "/etc/nginx/tls/websys.key": (tls / "key.pem").read_bytes(),
        },
    )
    for service in ("s3", "backend", "frontend", "nginx"):
        wait_healthy(stack.running[service], timeout=180)
    assert edge in {n.name for n in engine.client.networks.list()}
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_engine() as engine:
        yield start_stack(engine, tmp_path_factory.mktemp("engine"))


def https(stack: Stack, path: str, body: Any = None, token: str | None = None) -> tuple[int, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the development certificate is self-signed (curl -k)
    headers = {"Host": "localhost", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"https://127.0.0.1:{stack.https_port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20, context=context) as response:  # noqa: S310 loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def logs(stack: Stack, service: str) -> str:
    return str(stack.running[service].logs(tail=60).decode(errors="replace"))


def test_the_page_is_served_through_nginx_over_https(stack: Stack) -> None:
    status, page = https(stack, "/")
    assert status == 200
    assert "<title>WebSys</title>" in page
    status, config = https(stack, "/config.json")
    assert json.loads(config) == {"apiBaseUrl": "https://localhost/api"}


def test_the_api_reads_and_writes_postgresql_through_nginx(stack: Stack) -> None:
    assert https(stack, "/api/health") == (200, json.dumps({"status": "ok", "postgres": "ok", "redis": "ok"}))
    status, session = https(stack, "/api/session", {"user": "alice"})
    assert status == 201, logs(stack, "backend")
    status, note = https(stack, "/api/notes", {"body": "from the engine test"}, token=json.loads(session)["token"])
    assert (status, json.loads(note)["author"]) == (201, "alice")
    listed = json.loads(https(stack, "/api/notes")[1])
    assert [n["body"] for n in listed["notes"]] == ["from the engine test"]
    rows = stack.running["postgres"].exec_run(
        ["psql", "-h", "/tmp", "-U", stack.settings.database.user, "-d", stack.settings.database.name,
         "-At", "-c", "SELECT author || ':' || body FROM notes"]
    )  # fmt: skip
    assert (rows.exit_code, rows.output.decode().strip()) == (0, "alice:from the engine test")
    assert https(stack, "/api/metrics")[0] == 404  # metrics stay inside


def test_the_backend_answers_health_and_metrics_inside_its_network(stack: Stack) -> None:
    backend = stack.running["backend"]
    script = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"
    health = backend.exec_run(["python3", "-c", script, "http://127.0.0.1:8000/health"])
    assert json.loads(health.output) == {"status": "ok", "postgres": "ok", "redis": "ok"}
    metrics = backend.exec_run(["python3", "-c", script, "http://127.0.0.1:8000/metrics"]).output.decode()
    assert 'http_requests_total{method="GET",route="/health",status_code="200"}' in metrics
    assert "http_request_duration_seconds_bucket{" in metrics


def test_the_app_runs_with_the_plans_hardening(stack: Stack) -> None:
    for service in ("backend", "frontend"):
        container = stack.running[service]
        container.reload()
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        planned = containers(stack.plan, service, "blue")[0].inputs
        assert config["User"] == planned["user"] == "1000:1000"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == planned["securityOpts"] == ["no-new-privileges=true"]
        assert host["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=64m"}
        assert config["Healthcheck"]["Test"] == planned["healthcheck"]["tests"]
        assert container.attrs["State"]["Health"]["Status"] == "healthy"
        # The container runs the built image by its id, the one the tag points to.
        image = resource(stack.plan, REMOTE_IMAGE, f"images-{service}-image").inputs["name"]
        assert container.attrs["Image"] == stack.engine.client.images.get(image).id == stack.built[image]


def test_a_rebuild_with_the_same_content_gives_the_same_image_id(stack: Stack) -> None:
    build = resource(stack.plan, "docker-build:index:Image", "images-backend")
    again = build_from_plan(stack.engine, build, PROJECT_DIR / "app", "websys-test/bookworm:base")
    assert again == stack.built["websys-local/backend:engine"]


def test_a_backup_lands_in_the_emulator_and_the_drill_restores_it(stack: Stack) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=stack.s3_url, region_name="ap-northeast-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    kms = boto3.client(
        "kms", endpoint_url=stack.s3_url, region_name="ap-northeast-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    bucket = stack.settings.backup.bucket_name("development")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    job = resource(stack.plan, CONTAINER, "backup-job")
    envs = [e for e in plain_envs(job) if not e.startswith(("WEBSYS_BACKUP_KMS_KEY_ID=", "AWS_ACCESS_KEY_ID="))]
    envs += [
        f"WEBSYS_BACKUP_KMS_KEY_ID={key_arn}",  # the emulator's key, in place of the plan's mock ARN
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
        f"WEBSYS_DATABASE_URL={app_env.database_url(stack.settings, DB_PASSWORD)}",
        "WEBSYS_BACKUP_MANIFEST_KEY=manifest-key-for-the-engine-test",  # the plan's third secret
    ]
    assert job.inputs["envs"].count("[secret]") == 3  # database URL, secret key, manifest key
    container = create_from_plan(stack.engine, job, stack.built["websys-local/backup:engine"], envs)
    wait_healthy(container, timeout=180)
    once = {"WEBSYS_BACKUP_SCHEDULE": ""}  # run once, as docs/quick-start.md shows
    backup = container.exec_run(["websys", "backup"], environment=once)
    assert backup.exit_code == 0, backup.output.decode()
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert any(o["Key"].startswith(f"postgres/{stack.settings.database.name}/") for o in objects), objects
    drill = container.exec_run(["websys", "verify-backup"], environment=once)
    assert drill.exit_code == 0, drill.output.decode()


def test_prometheus_scrapes_the_backend_with_the_rendered_job(stack: Stack, tmp_path: Path) -> None:
    """Debian's Prometheus on this machine, with the backend job the program renders; its target is
    the replica's address on the edge network (this engine's bridge) instead of its Docker DNS name,
    which only resolves inside the engine's networks."""
    monitored = stack_settings("development", [s for s in SETS if not s.startswith("monitoring.")])
    rendered = yaml.safe_load(render_prometheus_config(monitored))
    job = next(j for j in rendered["scrape_configs"] if j["job_name"] == "backend")
    backend = stack.running["backend"]
    backend.reload()
    address = backend.attrs["NetworkSettings"]["Networks"][naming.network_name("development", "edge")]["IPAddress"]
    name = job["static_configs"][0]["targets"][0]
    assert name == f"{backend.name}:8000"
    job["static_configs"][0]["targets"] = [name.replace(backend.name, address)]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}), "utf-8")
    with running_prometheus(config, tmp_path) as prometheus:
        deadline = time.monotonic() + 60
        up: list[Any] = []
        while time.monotonic() < deadline and not up:
            up = [r for r in prometheus.get("/api/v1/query?query=up%7Bjob%3D%22backend%22%7D")["result"]
                  if r["value"][1] == "1"]  # fmt: skip
            time.sleep(0.5)
        assert up, "Prometheus never scraped the backend"
        assert up[0]["metric"]["color"] == "blue"
        series = prometheus.get("/api/v1/series?match[]=http_request_duration_seconds_bucket%7Bjob%3D%22backend%22%7D")
        assert {s["route"] for s in series} >= {"/health"}
