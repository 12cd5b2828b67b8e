"""The production plan with `platform: swarm` on a real single-node swarm.

The swarm runs on a dockerd of its own, in its own network namespace (`swarm init` there disturbs
no other test). The applier (tests/engine/swarm.py) creates the plan's secrets, configs, overlays
and services as the provider does, with three stand-in changes this kernel forces (no IPVS, no
ESP): endpoint mode dnsrr, host-mode published ports, unencrypted overlays. The backup job's
container is the host plan's (tested in test_engine_host.py) and is left out.
The stack file is production's with every value the tests depend on set explicitly.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge_support import make_certificate
from tests.engine.checks import capability_mask, process_status, wait_until
from tests.engine.daemon import Engine, start_engine, stop_engine
from tests.engine.deployment import replan
from tests.engine.fixtures import LookalikeImages
from tests.engine.plans import EnginePlan
from tests.engine.swarm import CONFIG, SECRET, SERVICE, SwarmApplier
from websys.plan import PlannedResource

BACKEND = "registry.websys.company.com/websys/backend"
FRONTEND = "registry.websys.company.com/websys/frontend"
SETS = [
    "platform=swarm",
    "domains.frontend=websys.example.test",
    "domains.api=api.websys.example.test",
    f"frontend.blue.image={FRONTEND}:1.0.0",
    f"backend.blue.image={BACKEND}:1.0.0",
    "frontend.blue.replicas=1",
    "backend.blue.replicas=2",
    "frontend.green.replicas=0",
    "backend.green.replicas=0",
    "deploy.activeColor=blue",
    "postgres.replicas=0",
    "postgres.cpus=0.5",
    "postgres.memoryMb=1024",
    "postgres.sharedBuffersMb=128",
    "postgres.effectiveCacheSizeMb=384",
    "redis.memoryMb=256",
    "redis.maxmemoryMb=128",
    "swarm.reservationPercent=10",  # the tasks' reservations fit a 2-core node, with room for start-first
    "swarm.proxyReplicas=1",  # host-mode ports (the stand-in for the routing mesh): one per node
    "swarm.updateParallelism=1",
    "swarm.updateDelaySeconds=2",
    "swarm.monitorSeconds=10",
    # Probes every 2 s instead of the default 30 s: a new task is healthy, and a broken one failing,
    # seconds after it starts, so updates and rollbacks take seconds; the probes are the plan's.
    "frontend.healthcheck.intervalSeconds=2",
    "backend.healthcheck.intervalSeconds=2",
]
PASSWORDS = ["databasePassword=Db-swarm-Value-4711", "jwtSecret=Jwt-swarm-Value-0815", "redisPassword=Redis-swarm-2342"]
# The plan's placement constraints name these node labels: the operator sets them (see docs).
NODE_LABELS = ["websys.postgres-primary=true", "websys.postgres-replica-1=true", "websys.redis=true", "websys.zone=a"]


@pytest.fixture(scope="module")
def swarm_engine(engine: Engine) -> Iterator[Engine]:
    own = start_engine(engine.run_id or uuid.uuid4().hex[:12], "swarm")
    try:
        own.docker("swarm", "init", "--advertise-addr", own.uplink_engine, timeout=60)
        node = own.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        own.docker("node", "update", *(f"--label-add={label}" for label in NODE_LABELS), node)
        yield own
    finally:
        stop_engine(own)


@pytest.fixture(scope="module")
def swarm_images(swarm_engine: Engine) -> LookalikeImages:
    return LookalikeImages(swarm_engine)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    crt, key = make_certificate(tmp_path_factory.mktemp("tls-swarm"))
    return [f"tlsCertificate={crt.read_text()}", f"tlsPrivateKey={key.read_text()}"]


def swarm_selected(resource: PlannedResource) -> bool:
    """The platform's services with their secrets, configs, overlays and images, and the monitoring
    containers (nginx's configuration names Grafana). The backup job is the host plan's."""
    return "websys:backup_job:" not in resource.urn


@pytest.fixture(scope="module")
def swarm(swarm_engine: Engine, swarm_images: LookalikeImages, tls: list[str]) -> Iterator[SwarmApplier]:
    plan = replan(swarm_engine, "production", SETS, [*tls, *PASSWORDS])
    applier = SwarmApplier(swarm_engine, plan, swarm_images.for_image)
    try:
        applier.apply(swarm_selected)
        yield applier
    finally:
        applier.destroy()


def services(plan: EnginePlan) -> list[tuple[PlannedResource, dict[str, Any]]]:
    return [(r, plan.inputs[r.urn]) for r in plan.plan.of_type(SERVICE)]


def tasks(engine: Engine, service: str) -> list[dict[str, Any]]:
    ids = engine.docker("service", "ps", "-q", "--filter", "desired-state=running", service).stdout.split()
    found: list[dict[str, Any]] = json.loads(engine.docker("inspect", *ids).stdout) if ids else []
    return found


def task_container(engine: Engine, task: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(
        engine.docker("inspect", task["Status"]["ContainerStatus"]["ContainerID"]).stdout
    )
    return found[0]


def service_image(engine: Engine, service: str) -> str:
    spec = json.loads(engine.docker("service", "inspect", service).stdout)[0]["Spec"]
    return str(spec["TaskTemplate"]["ContainerSpec"]["Image"]).split("@", 1)[0]


class BackendLoad:
    """Requests to the backend service from a container on the edge overlay, resolving the
    service's name for every request (dnsrr: Docker's DNS answers with the running tasks), for at
    least `seconds` and then until `stop`."""

    SCRIPT = """
import json, os, random, socket, sys, time, http.client
name, seconds = sys.argv[1], float(sys.argv[2])
ok, failures, hosts, end = 0, [], {}, time.monotonic() + seconds
while time.monotonic() < end or not os.path.exists("/tmp/stop"):
    try:
        address = random.choice(socket.getaddrinfo(name, 8000, socket.AF_INET, socket.SOCK_STREAM))[4][0]
        connection = http.client.HTTPConnection(address, 8000, timeout=5)
        connection.request("GET", "/api/users")
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status == 200:
            ok += 1
            host = json.loads(body)["host"]
            hosts[host] = hosts.get(host, 0) + 1
        else:
            failures.append(f"status {response.status}")
    except Exception as error:
        failures.append(repr(error))
    time.sleep(0.05)
print(json.dumps({"ok": ok, "failures": failures, "hosts": hosts}))
"""

    def __init__(self, engine: Engine, image: str, network: str, service: str, seconds: float) -> None:
        self.engine = engine
        self.name = f"websys-test-load-{uuid.uuid4().hex[:8]}"
        engine.docker(
            "run", "-d", "--name", self.name, "--network", network, "--label", f"com.websys.test-run={engine.run_id}",
            "--entrypoint", "python3", image, "-c", self.SCRIPT, service, str(seconds),
        )  # fmt: skip

    def stop(self) -> None:
        """Ends the load once its minimum time is over (the script polls for the file)."""
        self.engine.docker("exec", self.name, "touch", "/tmp/stop")

    def result(self, timeout: float) -> dict[str, Any]:
        self.engine.docker("wait", self.name, timeout=timeout)
        output = self.engine.docker("logs", self.name).stdout
        self.engine.docker("rm", "-f", self.name, check=False)
        found: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return found


def test_every_service_converges_with_its_hardening(swarm: SwarmApplier) -> None:
    for resource, inputs in services(swarm.plan):
        wanted = inputs["mode"]["replicated"]["replicas"]
        running = tasks(swarm.engine, inputs["name"])
        assert len(running) == wanted, resource.name
        spec = inputs["taskSpec"]["containerSpec"]
        for task in running:
            assert task["Status"]["State"] == "running"
            container = task_container(swarm.engine, task)
            if spec.get("healthcheck"):
                assert container["State"]["Health"]["Status"] == "healthy", resource.name
            status = process_status(container["State"]["Pid"])
            if spec.get("capDrops") == ["ALL"]:
                assert int(status["CapBnd"], 16) == capability_mask(spec.get("capAdds", [])), resource.name
            if spec.get("user"):
                assert status["Uid"].split()[0] == spec["user"].split(":")[0], resource.name


def test_a_start_first_rolling_update_to_a_new_tag_under_load_fails_no_request(
    swarm: SwarmApplier, swarm_images: LookalikeImages, tls: list[str]
) -> None:
    engine = swarm.engine
    backend = next(i for _, i in services(swarm.plan) if i["name"].endswith("-backend"))
    network = "websys-production-edge"
    load = BackendLoad(engine, swarm_images.for_image(f"{BACKEND}:1.0.0"), network, backend["name"], seconds=20)
    newer = replan(engine, "production", [*SETS, f"backend.blue.image={BACKEND}:1.0.1"], [*tls, *PASSWORDS])
    updated = next(i for _, i in services(newer) if i["name"] == backend["name"])
    assert updated["updateConfig"]["order"] == "start-first"
    swarm.update_service(updated)
    assert service_image(engine, backend["name"]) == swarm_images.for_image(f"{BACKEND}:1.0.1")
    time.sleep(3)  # requests to the new tasks alone, after the update
    load.stop()
    result = load.result(timeout=60)
    assert result["failures"] == []
    assert result["ok"] > 100
    assert len(result["hosts"]) >= 4, "answered by the old and the new tasks"


def test_a_task_failing_its_healthcheck_rolls_the_service_back(
    swarm: SwarmApplier, swarm_images: LookalikeImages, tls: list[str], tmp_path: Path
) -> None:
    engine = swarm.engine
    healthy = swarm_images.for_image(f"{BACKEND}:1.0.1")
    broken = f"{healthy}-unhealthy"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {healthy}\nUSER root\nRUN touch /app/unhealthy\nUSER node\n", encoding="utf-8"
    )
    engine.docker("build", "-q", "-t", broken, str(tmp_path), timeout=120)
    swarm_images.overrides[f"{BACKEND}:9.9.9-broken"] = broken
    failing = replan(engine, "production", [*SETS, f"backend.blue.image={BACKEND}:9.9.9-broken"], [*tls, *PASSWORDS])
    inputs = next(i for _, i in services(failing) if i["name"].endswith("-backend"))
    assert inputs["updateConfig"]["failureAction"] == "rollback"
    service = engine.docker("service", "inspect", inputs["name"]).stdout
    version = json.loads(service)[0]["Version"]["Index"]
    swarm.api.call(
        "POST", f"/services/{inputs['name']}/update", swarm.service_spec(inputs), query={"version": str(version)}
    )

    def rolled_back() -> bool:
        state = json.loads(engine.docker("service", "inspect", inputs["name"]).stdout)[0].get("UpdateStatus", {})
        return bool(state.get("State") == "rollback_completed")

    wait_until(rolled_back, "the update rolled back", timeout=300, pause=3)
    assert service_image(engine, inputs["name"]) == healthy
    # "rollback_completed" is the spec's state; the orchestrator may still be replacing a task the
    # broken update left (seen once: 1 of 2 tasks running right then). Wait, bounded, as the
    # provider's converge_config does, for every replica to run the healthy image.
    wanted = int(inputs["mode"]["replicated"]["replicas"])

    def converged() -> bool:
        running = [t for t in tasks(engine, inputs["name"]) if t["Status"]["State"] == "running"]
        return len(running) == wanted

    wait_until(converged, "every replica running after the rollback", timeout=60, pause=1)
    running = tasks(engine, inputs["name"])
    assert len(running) == wanted
    assert all(t["Spec"]["ContainerSpec"]["Image"].split("@")[0] == healthy for t in running)


def changed_objects(before: EnginePlan, after: EnginePlan) -> list[tuple[PlannedResource, PlannedResource]]:
    """Secrets and configs the new plan replaces: the same resource, a new name (new content)."""
    pairs = []
    for resource in (*after.plan.of_type(SECRET), *after.plan.of_type(CONFIG)):
        old = next(r for r in before.plan.of_type(resource.type) if r.urn == resource.urn)
        if before.inputs[old.urn]["name"] != after.inputs[resource.urn]["name"]:
            pairs.append((old, resource))
    return pairs


def roll(swarm: SwarmApplier, after: EnginePlan) -> list[str]:
    """The new plan's replacements and updates in the engine's order for the plan's options:
    delete-before-replace deletes the old object first; otherwise the new one is created, the
    services that mount it are updated, and the old one is deleted last. Returns what happened."""
    steps: list[str] = []
    before = swarm.plan
    pairs = changed_objects(before, after)
    for old, new in pairs:
        if new.options.delete_before_replace:
            kind = "secrets" if old.type == SECRET else "configs"
            swarm.api.call("DELETE", f"/{kind}/{before.inputs[old.urn]['name']}")
            steps.append(f"deleted {before.inputs[old.urn]['name']}")
        swarm.plan = after
        swarm.create_object(new, after.inputs[new.urn])
        steps.append(f"created {after.inputs[new.urn]['name']}")
    for resource, inputs in services(after):
        if json.dumps(inputs, sort_keys=True) != json.dumps(before.inputs[resource.urn], sort_keys=True):
            swarm.update_service(inputs)
            steps.append(f"updated {inputs['name']}")
    for old, new in pairs:
        if not new.options.delete_before_replace:
            kind = "secrets" if old.type == SECRET else "configs"
            swarm.api.call("DELETE", f"/{kind}/{before.inputs[old.urn]['name']}")
            steps.append(f"deleted {before.inputs[old.urn]['name']}")
    return steps


def test_a_secret_rotation_and_a_config_change_go_through_in_the_plans_order(
    swarm: SwarmApplier, tls: list[str]
) -> None:
    engine = swarm.engine
    rotated = [
        "databasePassword=Db-swarm-Value-4711",
        "jwtSecret=Jwt-rotated-Value-9999",
        "redisPassword=Redis-swarm-2342",
    ]
    after = replan(engine, "production", [*SETS, "redis.maxmemoryMb=96"], [*tls, *rotated])
    pairs = changed_objects(swarm.plan, after)
    assert sorted(after.inputs[new.urn]["labels"][-1]["value"] for _, new in pairs) == ["jwt-secret", "redis-conf"]
    steps = roll(swarm, after)
    assert [step.split()[0] for step in steps if step.startswith(("created", "deleted"))].count("deleted") == 2
    for resource, inputs in services(after):
        assert len(tasks(engine, inputs["name"])) == inputs["mode"]["replicated"]["replicas"], resource.name
    backend = next(i for _, i in services(after) if i["name"].endswith("-backend"))
    task = tasks(engine, backend["name"])[0]
    container = task_container(engine, task)["Id"]
    mounted = engine.docker("exec", container, "cat", "/run/secrets/jwt-secret").stdout
    assert mounted == "Jwt-rotated-Value-9999"
    redis = next(i for _, i in services(after) if i["name"].endswith("-redis"))
    redis_container = task_container(engine, tasks(engine, redis["name"])[0])["Id"]
    conf = engine.docker("exec", redis_container, "cat", "/usr/local/etc/redis/redis.conf").stdout
    assert "maxmemory 96mb" in conf
