"""The data tier as registered with the engine: PostgreSQL and Redis on the internal network only,
hardened, with secrets redacted, protected volumes where it matters, and untouched by stateless changes."""

from __future__ import annotations

import copy
import json

import pytest

from tests.planning import NETWORK, REMOTE_IMAGE, containers, network_names, plan_for, stack_settings
from websys.plan import SECRET, Plan, PlannedResource
from websys.render import postgres as pg_files
from websys.render import redis as redis_files
from websys.settings import SettingsError

VOLUME = "docker:index/volume:Volume"
STACKS = ["development", "staging", "production"]
EXPECTED_REPLICAS = {"development": 0, "staging": 1, "production": 1}
DATA_TYPES = ("websys:postgres:Postgres", "websys:redis:Redis")


def data_resources(plan: Plan) -> dict[str, PlannedResource]:
    """Every resource of the data tier (the components and their children, volumes included), by URN."""
    return {r.urn: r for r in plan.resources if any(t in r.urn.split("::")[2] for t in DATA_TYPES)}


def uploads(container: PlannedResource) -> dict[str, dict[str, object]]:
    return {upload["file"]: upload for upload in container.inputs["uploads"]}


@pytest.mark.parametrize("stack", STACKS)
def test_data_containers_publish_no_port_and_sit_on_the_internal_network_only(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    networks = {r.inputs["name"]: r for r in plan.of_type(NETWORK)}
    data = networks[f"websys-{stack}-data"]
    assert data.inputs["internal"] is True
    postgres, redis = containers(plan, "postgres"), containers(plan, "redis")
    assert len(postgres) == 1 + EXPECTED_REPLICAS[stack]
    assert len(redis) == 1
    for container in postgres + redis:
        assert "ports" not in container.inputs, f"{container.name} publishes a host port"
        assert network_names(container) == [data.inputs["name"]]
        assert data.urn in container.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_backend_reaches_the_data_tier_by_the_names_its_urls_use(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    aliases = {c.name: c.inputs["networksAdvanced"][0]["aliases"] for c in containers(plan, "postgres")}
    assert "postgres-primary" in aliases["postgres-primary"]
    assert f"websys-{stack}-postgres-primary" in aliases["postgres-primary"]
    for index in range(1, EXPECTED_REPLICAS[stack] + 1):
        assert f"postgres-replica-{index}" in aliases[f"postgres-replica-{index}"]
    assert "redis" in containers(plan, "redis")[0].inputs["networksAdvanced"][0]["aliases"]
    # Backend containers are created once the primary and Redis are up (and healthy: wait=True).
    servers = {plan.by_name("postgres-primary").urn, plan.by_name("redis-server").urn}
    for backend in containers(plan, "backend"):
        assert servers <= set(backend.dependencies)
    for frontend in containers(plan, "frontend"):
        assert not servers & set(frontend.dependencies)


@pytest.mark.parametrize("stack", STACKS)
def test_data_containers_are_hardened_and_limited(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    settings = stack_settings(stack)
    for container in containers(plan, "postgres") + containers(plan, "redis"):
        inputs = container.inputs
        service = "postgres" if container.name.startswith("postgres") else "redis"
        expected_user = settings.postgres.user if service == "postgres" else settings.redis.user
        assert inputs["user"] == expected_user
        assert not inputs["user"].startswith("0:"), "root"
        assert inputs["securityOpts"] == ["no-new-privileges=true"]
        assert inputs["capabilities"] == {"drops": ["ALL"]}
        assert not inputs.get("privileged", False)
        assert inputs["restart"] == "unless-stopped"
        expected_memory = settings.postgres.memory_mb if service == "postgres" else settings.redis.memory_mb
        assert inputs["memory"] == inputs["memorySwap"] == expected_memory
        assert inputs["logDriver"] == "json-file"
        assert inputs["logOpts"] == {"max-size": settings.logging.max_size, "max-file": str(settings.logging.max_files)}
        assert inputs["wait"] is True
        assert inputs["image"].startswith("sha256:"), "image must be RemoteImage.image_id"
        tests = inputs["healthcheck"]["tests"]
        if service == "postgres":
            assert tests[0] == "CMD-SHELL"
            assert "pg_isready -q -h /var/run/postgresql" in tests[1], "over the socket: no pg_hba FATAL per probe"
        else:
            assert tests[0] == "CMD-SHELL"
            assert "redis-cli" in tests[1]
            assert "REDISCLI_AUTH" in tests[1]
    images = {r.inputs["name"] for r in plan.of_type(REMOTE_IMAGE)}
    assert {"postgres:15-alpine", "redis:7-alpine"} <= images


def test_replicas_depend_on_the_primary_and_run_the_bootstrap(stack_plans: dict[str, Plan]) -> None:
    plan = plan_for("production", sets=["postgres.replicas=2"])
    primary = plan.by_name("postgres-primary")
    settings = stack_settings("production", ["postgres.replicas=2"])
    for index in (1, 2):
        replica = plan.by_name(f"postgres-replica-{index}")
        assert primary.urn in replica.dependencies
        assert replica.inputs["command"] == [pg_files.REPLICA_SCRIPT]
        script = uploads(replica)[pg_files.REPLICA_SCRIPT]
        assert script["content"] == pg_files.render_replica_bootstrap(settings, index)
        assert script["permissions"] == "0555"
        assert f"SLOT='websys_replica_{index}'" in str(script["content"])
        volume = plan.by_name(f"postgres-replica-{index}-data")
        assert volume.urn in replica.dependencies
        assert replica.inputs["volumes"] == [
            {"containerPath": pg_files.VOLUME_DIR, "volumeName": f"websys-production-postgres-replica-{index}-data"}
        ]
    assert primary.urn not in plan.by_name("redis-server").dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_files_reach_the_containers(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    settings = stack_settings(stack)
    primary = uploads(plan.by_name("postgres-primary"))
    assert primary[pg_files.POSTGRESQL_CONF]["content"] == pg_files.render_postgresql_conf(settings)
    assert primary[pg_files.PG_HBA_CONF]["content"] == pg_files.render_pg_hba(settings)
    assert primary[pg_files.INIT_SCRIPT]["content"] == pg_files.render_primary_init(settings)
    assert plan.by_name("postgres-primary").inputs["command"] == [
        "postgres",
        "-c",
        f"config_file={pg_files.POSTGRESQL_CONF}",
    ]
    redis = uploads(plan.by_name("redis-server"))
    assert redis[redis_files.CONFIG_FILE]["content"] == redis_files.render_redis_conf(settings)
    # pg_hba.conf admits exactly the data network's range, which the network is given.
    data_network = next(r for r in plan.of_type(NETWORK) if r.inputs["name"].endswith("-data"))
    # The subnet pg_hba.conf admits, with the gateway Docker assigns (so it reads back unchanged).
    (ipam,) = data_network.inputs["ipamConfigs"]
    assert ipam["subnet"] == settings.data_network.subnet
    assert f" {settings.data_network.subnet} " in pg_files.render_pg_hba(settings)
    assert "trust" not in pg_files.render_pg_hba(settings).split("\n", 2)[2]


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_reach_containers_only_as_secret_files(stack: str) -> None:
    values = {
        "databasePassword": "DbPassword1234567890",
        "replicationPassword": "ReplPassword1234567890",
        "redisPassword": "RedisPassword1234567890",
    }
    plan = plan_for(stack, secrets=[f"{key}={value}" for key, value in values.items()])
    text = plan.dumps()
    for value in values.values():
        assert value not in text
    primary = uploads(plan.by_name("postgres-primary"))
    for path in (pg_files.DATABASE_PASSWORD_FILE, pg_files.REPLICATION_PASSWORD_FILE):
        assert primary[path]["content"] == SECRET
        assert (primary[path]["owner"], primary[path]["group"], primary[path]["permissions"]) == ("70", "70", "0400")
    redis = uploads(plan.by_name("redis-server"))
    assert redis[redis_files.AUTH_FILE]["content"] == SECRET
    assert redis[redis_files.PASSWORD_FILE]["content"] == SECRET
    # No variable carries a password: the entrypoint reads the superuser's from a file.
    for container in containers(plan, "postgres") + containers(plan, "redis"):
        for variable in container.inputs.get("envs", []):
            name, _, value = str(variable).partition("=")
            assert "PASSWORD" not in name or (name.endswith("_FILE") and value.startswith("/run/secrets/"))


@pytest.mark.parametrize("stack", STACKS)
def test_data_volumes_are_protected_in_staging_and_production(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    volumes = [v for v in plan.of_type(VOLUME) if "-postgres-" in v.inputs["name"] or "-redis-" in v.inputs["name"]]
    expected = {"websys-{0}-postgres-primary-data", "websys-{0}-redis-data"} | {
        f"websys-{{0}}-postgres-replica-{i}-data" for i in range(1, EXPECTED_REPLICAS[stack] + 1)
    }
    assert {v.inputs["name"] for v in volumes} == {name.format(stack) for name in expected}
    protected = stack != "development"
    for volume in volumes:
        assert volume.options.protect is protected, volume.name
        assert volume.options.retain_on_delete is protected, volume.name


STATELESS_CHANGES = [
    ["backend.blue.image=registry.websys.company.com/websys/backend:1.1.0"],
    ["frontend.blue.image=registry.websys.company.com/websys/frontend:2.0.0"],
    ["backend.blue.replicas=6", "frontend.blue.replicas=4"],
    ["backend.green.replicas=3", "frontend.green.replicas=2", "deploy.activeColor=green"],
    ["backend.resources.memoryMb=2048"],
]


@pytest.mark.parametrize("sets", STATELESS_CHANGES, ids=lambda sets: sets[0].split("=")[0])
def test_a_stateless_change_changes_no_stateful_resource(stack_plans: dict[str, Plan], sets: list[str]) -> None:
    before = data_resources(stack_plans["production"])
    after = data_resources(plan_for("production", sets=sets))
    assert before.keys() == after.keys()
    changed = [urn for urn in before if json.dumps(before[urn].to_json()) != json.dumps(after[urn].to_json())]
    assert changed == []


def test_adding_a_replica_adds_its_container_and_volume_and_changes_no_volume(stack_plans: dict[str, Plan]) -> None:
    before = data_resources(stack_plans["production"])
    after = data_resources(plan_for("production", sets=["postgres.replicas=2"]))
    added = sorted(urn.rsplit("::", 1)[1] for urn in after.keys() - before.keys())
    assert added == ["postgres-replica-2", "postgres-replica-2-data"]
    assert not before.keys() - after.keys()
    for urn, resource in before.items():
        if resource.type == VOLUME:
            assert resource.to_json() == after[urn].to_json()
    assert (
        before[plan_urn(before, "postgres-replica-1")].to_json()
        == after[plan_urn(after, "postgres-replica-1")].to_json()
    )
    # The primary's init script lists one slot per replica; it only runs on an empty volume, and
    # the new replica's bootstrap creates its own slot on a primary initialised without it.
    old_primary = copy.deepcopy(before[plan_urn(before, "postgres-primary")].to_json())
    new_primary = copy.deepcopy(after[plan_urn(after, "postgres-primary")].to_json())
    old_uploads, new_uploads = old_primary["inputs"].pop("uploads"), new_primary["inputs"].pop("uploads")
    assert old_primary == new_primary
    changed = [new["file"] for old, new in zip(old_uploads, new_uploads, strict=True) if old != new]
    assert changed == [pg_files.INIT_SCRIPT]
    assert "pg_create_physical_replication_slot('websys_replica_2')" in str(new_uploads[2]["content"])


def plan_urn(resources: dict[str, PlannedResource], name: str) -> str:
    return next(urn for urn, r in resources.items() if r.name == name)


@pytest.mark.parametrize(
    ("assignment", "key", "reason"),
    [
        ("redis.maxmemoryMb=1000", "websys:redis", "at most 75% of memoryMb"),
        ("postgres.sharedBuffersMb=3000", "websys:postgres", "at most half of memoryMb"),
        ("postgres.replicas=9", "websys:postgres.replicas", "less than or equal to 5"),
        ("postgres.maxWalSenders=2", "websys:postgres", "maxWalSenders (2) must be at least replicas + 2"),
        ("redis.maxmemoryPolicy=lru", "websys:redis.maxmemoryPolicy", "input should be"),
        ("dataNetwork.subnet=8.8.8.0/24", "websys:dataNetwork.subnet", "private"),
        ("dataNetwork.subnet=172.30.2.1/24", "websys:dataNetwork.subnet", "not an IPv4 network"),
        ("database.user=postgres", "websys:database.user", "reserved"),
        ("postgres.replicationUser=websys", "websys:database.user", "reserved"),
        ("postgres.maxSlotWalKeepSize=1GB", "websys:postgres.maxSlotWalKeepSize", "unknown key"),
    ],
)
def test_bad_data_tier_settings_are_one_line(assignment: str, key: str, reason: str) -> None:
    with pytest.raises(SettingsError) as raised:
        stack_settings("production", [assignment])
    message = str(raised.value)
    assert message.startswith(f"Pulumi.production.yaml: {key}: "), message
    assert reason in message
    assert "\n" not in message


def test_failover_moves_the_primary_name_to_the_promoted_replica(stack_plans: dict[str, Plan]) -> None:
    """The runbook's stack change: `postgres.promotedReplica: 1` (and a new replica 2)."""
    before = stack_plans["production"]
    after = plan_for("production", sets=["postgres.promotedReplica=1", "postgres.replicas=2"])
    names = {c.inputs["name"] for c in containers(after, "postgres")}
    assert names == {"websys-production-postgres-replica-1", "websys-production-postgres-replica-2"}
    promoted, follower = after.by_name("postgres-replica-1"), after.by_name("postgres-replica-2")
    assert "postgres-primary" in promoted.inputs["networksAdvanced"][0]["aliases"]
    assert "postgres-primary" not in follower.inputs["networksAdvanced"][0]["aliases"]
    assert promoted.urn in follower.dependencies
    assert {"label": "com.websys.role", "value": "primary"} in promoted.inputs["labels"]
    # Every volume stays as it was, the old primary's included (protected, for an operator to drop).
    old_volumes = {v.urn: v.to_json() for v in before.of_type(VOLUME)}
    new_volumes = {v.urn: v.to_json() for v in after.of_type(VOLUME)}
    assert {urn: new_volumes[urn] for urn in old_volumes} == old_volumes
    # The backend keeps its DATABASE_URL (postgres-primary) and waits for the new primary.
    for old, new in zip(containers(before, "backend"), containers(after, "backend"), strict=True):
        assert old.inputs == new.inputs
        assert promoted.urn in new.dependencies
    assert after.outputs["postgres"] == {
        "primary": "websys-production-postgres-replica-1",
        "replicas": ["websys-production-postgres-replica-2"],
    }


def test_promoting_a_replica_that_does_not_exist_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        stack_settings("production", ["postgres.promotedReplica=2"])
    assert str(raised.value) == (
        "Pulumi.production.yaml: websys:postgres: promotedReplica (2) must name one of the 1 replicas"
    )
