"""The data tier's renderers, read directly (the live tests run what they produce)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.planning import stack_settings
from websys.render import postgres as pg_files
from websys.render import redis as redis_files

STACKS = ["development", "staging", "production"]


def hba_rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("stack", STACKS)
def test_pg_hba_admits_the_app_backup_and_replication_roles_from_the_data_network_only(stack: str) -> None:
    settings = stack_settings(stack)
    subnet = settings.data_network.subnet
    assert hba_rules(pg_files.render_pg_hba(settings)) == [
        ["local", "all", "postgres", "peer"],
        ["host", settings.database.name, settings.database.user, subnet, "scram-sha-256"],
        # Drills connect to scratch databases named at run time; CONNECT privileges bound the role.
        ["host", "all", f"{settings.database.user}_backup", subnet, "scram-sha-256"],
        ["host", "replication", "replicator", subnet, "scram-sha-256"],
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_postgresql_conf_has_the_replication_and_security_settings(stack: str) -> None:
    settings = stack_settings(stack)
    conf = pg_files.render_postgresql_conf(settings)
    values: dict[str, str] = {}
    for line in conf.splitlines():
        match = re.match(r"^(\w+) = (\S+)", line)
        if match:
            values[match.group(1)] = match.group(2)
    pg = settings.postgres
    assert values["wal_level"] == "replica"
    assert values["hot_standby"] == "on"
    assert values["password_encryption"] == "'scram-sha-256'"
    assert values["max_wal_senders"] == str(pg.max_wal_senders)
    assert values["max_replication_slots"] == str(pg.max_replication_slots)
    assert values["max_slot_wal_keep_size"] == f"{pg.max_slot_wal_keep_size_mb}MB"
    assert values["max_connections"] == str(pg.max_connections)
    assert values["shared_buffers"] == f"{pg.shared_buffers_mb}MB"
    assert values["hba_file"] == f"'{pg_files.PG_HBA_CONF}'"
    assert values["port"] == str(settings.database.port)


def test_init_script_creates_one_slot_per_replica_and_holds_no_password() -> None:
    for replicas in (0, 1, 3):
        settings = stack_settings("production", [f"postgres.replicas={replicas}"])
        script = pg_files.render_primary_init(settings)
        slots = re.findall(r"pg_create_physical_replication_slot\('(\w+)'\)", script)
        assert slots == [f"websys_replica_{i}" for i in range(1, replicas + 1)]
        assert "WITH REPLICATION LOGIN" in script
        assert "PASSWORD :'app_password'" in script
        assert "ALTER ROLE postgres PASSWORD NULL" in script


def test_replica_bootstrap_clones_through_its_slot_and_is_valid_shell() -> None:
    settings = stack_settings("production")
    script = pg_files.render_replica_bootstrap(settings, 2)
    assert "SLOT='websys_replica_2'" in script
    assert 'pg_basebackup -h "$PRIMARY_HOST"' in script
    for flag in ("-R", '-S "$SLOT"', "-X stream"):
        assert flag in script
    assert script.rstrip().endswith('exec postgres -D "$PGDATA" -c config_file="$POSTGRES_CONFIG_FILE" "$@"')
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0


@pytest.mark.parametrize("stack", STACKS)
def test_redis_conf_is_durable_bounded_and_holds_no_secret(stack: str) -> None:
    settings = stack_settings(stack)
    conf = redis_files.render_redis_conf(settings)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in conf.splitlines() if line and line[0] != "#"}
    assert lines["appendonly"] == "yes"
    assert lines["appendfsync"] == "everysec"
    assert lines["protected-mode"] == "yes"
    assert lines["maxmemory"] == f"{settings.redis.maxmemory_mb}mb"
    assert lines["maxmemory-policy"] == settings.redis.maxmemory_policy
    assert lines["include"] == redis_files.AUTH_FILE
    assert "requirepass" not in lines


def test_redis_auth_quotes_the_password() -> None:
    assert redis_files.render_redis_auth("abc123") == 'requirepass "abc123"\n'
    assert redis_files.render_redis_auth('a"b\\c') == 'requirepass "a\\"b\\\\c"\n'
