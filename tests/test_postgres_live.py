"""A real PostgreSQL 15 primary and streaming replica, started on loopback with the rendered
postgresql.conf and pg_hba.conf, initialised by the rendered init script and cloned by the rendered
replica bootstrap script, the same files the containers get. Only the listening address, port,
socket directory and file paths are made local."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.datatier import (
    PgServer,
    give_to_postgres,
    init_and_start,
    local_overrides,
    new_password,
    pg_binary,
    pg_env,
    run_as_postgres,
    start_logged,
    wait_until,
)
from tests.live_servers import free_port
from tests.planning import stack_settings
from websys.render import postgres as files
from websys.settings import ENVIRONMENTS, Settings

pytestmark = [pytest.mark.timeout(180), pytest.mark.live]


@dataclass
class Cluster:
    settings: Settings
    root: Path
    primary: PgServer
    replica: PgServer
    app_password: str
    replication_password: str

    @property
    def app_user(self) -> str:
        return self.settings.database.user

    @property
    def db(self) -> str:
        return self.settings.database.name


def _write(path: Path, text: str, mode: int = 0o444) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    give_to_postgres(path)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    give_to_postgres(path)
    return path


def start_replica(cluster_root: Path, settings: Settings, index: int, primary: PgServer, name: str) -> PgServer:
    """Run the rendered bootstrap script of replica `index` as its container would, with the
    primary's address and the paths made local; extra arguments go to `postgres`."""
    script = _write(
        cluster_root / "etc" / f"replica-{index}.sh", files.render_replica_bootstrap(settings, index), 0o555
    )
    home = _mkdir(cluster_root / name)
    sockets = _mkdir(cluster_root / f"sock-{name}")
    port = free_port()
    env = pg_env(
        PGDATA=str(home / "pgdata"),
        PRIMARY_HOST="127.0.0.1",
        PRIMARY_PORT=str(primary.port),
        REPLICATION_PASSWORD_FILE=str(cluster_root / "secrets" / "replication-password"),
        PGPASSFILE=str(sockets / "replication.pgpass"),
        POSTGRES_CONFIG_FILE=str(cluster_root / "etc" / "postgresql.conf"),
        PRIMARY_WAIT_SECONDS="30",
    )
    log = cluster_root / f"{name}.log"
    process = start_logged(
        name,
        ["sh", str(script), *local_overrides(port, sockets, cluster_root / "etc" / "pg_hba.conf")],
        env,
        log,
    )
    server = PgServer(name, port, sockets, home / "pgdata", process, log, {"env": env, "script": script})
    try:
        server.wait_ready(90)
    except BaseException:
        server.stop()
        raise
    return server


def slot_state(primary: PgServer, slot: str, timeout: float = 30) -> str:
    """`slot|state` of the walsender serving `slot` on `primary`, once it streams (bounded): a replica
    answers queries before its walreceiver has connected, so the row can lag its start."""
    query = "SELECT s.slot_name, r.state FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid"

    def row() -> str:
        return next((line for line in primary.admin(query).splitlines() if line.split("|")[0] == slot), "")

    wait_until(lambda: row() == f"{slot}|streaming", timeout, interval=0.2)
    return row()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Staging's settings (one replica), with pg_hba.conf admitting loopback as "the data network".
    settings = stack_settings("staging", ["dataNetwork.subnet=127.0.0.0/24"])
    root = Path(tempfile.mkdtemp(prefix="websys-datatier-pg-"))
    give_to_postgres(root)
    processes: list[PgServer] = []
    try:
        app_password, replication_password = new_password(), new_password()
        _write(root / "secrets" / "database-password", app_password, 0o400)
        _write(root / "secrets" / "replication-password", replication_password, 0o400)
        _write(root / "secrets" / "backup-password", new_password(), 0o400)
        conf = _write(root / "etc" / "postgresql.conf", files.render_postgresql_conf(settings))
        hba = _write(root / "etc" / "pg_hba.conf", files.render_pg_hba(settings))
        init = _write(root / "etc" / "init.sh", files.render_primary_init(settings), 0o555)
        _mkdir(root / "primary")
        sockets = _mkdir(root / "sock-primary")
        pgdata = root / "primary" / "pgdata"

        # What the official entrypoint does on an empty volume: initdb with POSTGRES_INITDB_ARGS
        # and the password file, a server, then the scripts in /docker-entrypoint-initdb.d.
        primary = init_and_start(
            "primary",
            pgdata,
            conf,
            hba,
            sockets,
            root / "primary.log",
            [
                f"--pwfile={root / 'secrets' / 'database-password'}",
                "--data-checksums",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ],
        )
        processes.append(primary)
        port = primary.port
        ran = run_as_postgres(
            ["sh", str(init)],
            pg_env(
                PGHOST=str(sockets),
                PGPORT=str(port),
                WEBSYS_DATABASE_PASSWORD_FILE=str(root / "secrets" / "database-password"),
                WEBSYS_REPLICATION_PASSWORD_FILE=str(root / "secrets" / "replication-password"),
                WEBSYS_BACKUP_PASSWORD_FILE=str(root / "secrets" / "backup-password"),
            ),
        )
        assert ran.returncode == 0, ran.stderr
        replica = start_replica(root, settings, 1, primary, "replica-1")
        processes.append(replica)
        yield Cluster(settings, root, primary, replica, app_password, replication_password)
    finally:
        for server in reversed(processes):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_init_script_creates_roles_database_and_slot(cluster: Cluster) -> None:
    primary = cluster.primary
    roles = primary.admin(
        "SELECT rolname, rolsuper, rolreplication, rolcanlogin, rolpassword IS NULL FROM pg_authid "  # noqa: S608
        f"WHERE rolname IN ('postgres', '{cluster.app_user}', 'replicator') ORDER BY rolname"
    )
    assert roles.splitlines() == sorted(
        [
            "postgres|t|t|t|t",  # the superuser keeps no password: local socket (peer) only
            f"{cluster.app_user}|f|f|t|f",
            "replicator|f|t|t|f",
        ]
    )
    owner = f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{cluster.db}'"  # noqa: S608
    assert primary.admin(owner) == (cluster.app_user)
    assert primary.admin("SELECT slot_name, slot_type FROM pg_replication_slots ORDER BY 1") == (
        "websys_replica_1|physical"
    )
    assert primary.admin("SHOW password_encryption") == "scram-sha-256"
    verifier_sql = f"SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '{cluster.app_user}'"  # noqa: S608
    verifier = primary.admin(verifier_sql)
    assert verifier == "SCRAM-SHA-256$"


def test_rendered_settings_are_in_force(cluster: Cluster) -> None:
    pg = cluster.settings.postgres
    for server in (cluster.primary, cluster.replica):
        assert server.admin("SHOW wal_level") == "replica"
        assert server.admin("SHOW max_slot_wal_keep_size") == f"{pg.max_slot_wal_keep_size_mb // 1024}GB"
        assert server.admin("SHOW max_connections") == str(pg.max_connections)
        assert server.admin("SHOW shared_buffers") == f"{pg.shared_buffers_mb}MB"
        assert server.admin("SHOW hot_standby") == "on"
        assert server.admin("SHOW data_checksums") == "on"
    assert cluster.primary.admin("SELECT pg_is_in_recovery()") == "f"
    assert cluster.replica.admin("SELECT pg_is_in_recovery()") == "t"


def test_row_written_on_primary_is_readable_on_replica_within_one_second(cluster: Cluster) -> None:
    marker = f"row-{time.time_ns()}"
    create = cluster.primary.psql(
        f"CREATE TABLE IF NOT EXISTS replicated (id serial PRIMARY KEY, note text); "  # noqa: S608
        f"INSERT INTO replicated (note) VALUES ('{marker}')",
        user=cluster.app_user,
        password=cluster.app_password,
        dbname=cluster.db,
    )
    assert create.returncode == 0, create.stderr
    written = time.monotonic()
    seen_after = None
    while time.monotonic() - written < 1.0:
        read = cluster.replica.psql(
            f"SELECT count(*) FROM replicated WHERE note = '{marker}'",  # noqa: S608
            user=cluster.app_user,
            password=cluster.app_password,
            dbname=cluster.db,
        )
        if read.returncode == 0 and read.stdout.strip() == "1":
            seen_after = time.monotonic() - written
            break
        time.sleep(0.02)
    assert seen_after is not None, "the row did not reach the replica within one second"
    assert seen_after < 1.0


def test_replica_refuses_writes(cluster: Cluster) -> None:
    result = cluster.replica.psql(
        "CREATE TABLE IF NOT EXISTS replicated (id serial PRIMARY KEY, note text); "
        "INSERT INTO replicated (note) VALUES ('on the replica')",
        user=cluster.app_user,
        password=cluster.app_password,
        dbname=cluster.db,
    )
    assert result.returncode != 0
    assert "read-only transaction" in result.stderr


def test_pg_stat_replication_shows_the_replica_streaming_through_its_slot(cluster: Cluster) -> None:
    assert slot_state(cluster.primary, "websys_replica_1") == "websys_replica_1|streaming"
    row = cluster.primary.admin(
        "SELECT r.usename, r.state, s.slot_name, s.active, s.slot_type "
        "FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid"
    )
    assert row == "replicator|streaming|websys_replica_1|t|physical"
    # The replica found its slot and the primary in the postgresql.auto.conf that -R wrote, and
    # the password in a passfile: none in its data directory.
    auto_conf = (cluster.replica.data_dir / "postgresql.auto.conf").read_text()
    assert "primary_slot_name = 'websys_replica_1'" in auto_conf
    assert "passfile=" in auto_conf
    assert cluster.replication_password not in auto_conf
    assert (cluster.replica.data_dir / "standby.signal").exists()


def test_wrong_or_no_password_is_refused(cluster: Cluster) -> None:
    primary = cluster.primary
    wrong = primary.psql("SELECT 1", user=cluster.app_user, password="not-the-password", dbname=cluster.db)
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr
    missing = primary.psql("SELECT 1", user=cluster.app_user, dbname=cluster.db)
    assert missing.returncode != 0
    assert "no password supplied" in missing.stderr
    right = primary.psql("SELECT current_user", user=cluster.app_user, password=cluster.app_password, dbname=cluster.db)
    assert (right.returncode, right.stdout.strip()) == (0, cluster.app_user), right.stderr


def test_app_role_asking_for_replication_is_refused(cluster: Cluster) -> None:
    result = cluster.primary.psql(
        "IDENTIFY_SYSTEM", user=cluster.app_user, password=cluster.app_password, replication=True
    )
    assert result.returncode != 0
    assert "no pg_hba.conf entry for replication connection" in result.stderr
    # ...and the replication role works with the same request.
    allowed = cluster.primary.psql(
        "IDENTIFY_SYSTEM", user="replicator", password=cluster.replication_password, replication=True
    )
    assert allowed.returncode == 0, allowed.stderr


def test_nothing_else_is_admitted(cluster: Cluster) -> None:
    primary = cluster.primary
    # The superuser over TCP, even with the password initdb was given: no pg_hba.conf entry.
    superuser = primary.psql("SELECT 1", user="postgres", password=cluster.app_password)
    assert superuser.returncode != 0
    assert "no pg_hba.conf entry" in superuser.stderr
    # The replication role may not open the application database.
    replicator = primary.psql("SELECT 1", user="replicator", password=cluster.replication_password, dbname=cluster.db)
    assert replicator.returncode != 0
    assert "no pg_hba.conf entry" in replicator.stderr
    # The application role may not open another database.
    other = primary.psql("SELECT 1", user=cluster.app_user, password=cluster.app_password, dbname="postgres")
    assert other.returncode != 0
    assert "no pg_hba.conf entry" in other.stderr


def test_healthcheck_command_reports_ready(cluster: Cluster) -> None:
    for server in (cluster.primary, cluster.replica):
        command = files.pg_isready_command(cluster.settings, port=server.port)
        assert command[0] == "CMD"
        result = run_as_postgres([pg_binary(command[1]), *command[2:]], pg_env())
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_replica_whose_slot_is_missing_creates_it_and_a_restart_does_not_clone_again(cluster: Cluster) -> None:
    """Replica 2 of a stack that initialised with one replica (or a rebuild after a failover):
    the primary has no slot for it, so the bootstrap creates it."""
    replica = start_replica(cluster.root, cluster.settings, 2, cluster.primary, "replica-2")
    try:
        assert "pg_basebackup creates it" in replica.log_text()
        assert slot_state(cluster.primary, "websys_replica_2") == "websys_replica_2|streaming"
        replica.stop()
        assert replica.process.returncode == 0
        # Restarted by its container: the script finds a cluster and starts it as it is.
        restarted = start_logged(
            "replica-2",
            [
                "sh",
                str(replica.extra["script"]),
                *local_overrides(replica.port, replica.socket_dir, cluster.root / "etc" / "pg_hba.conf"),
            ],
            replica.extra["env"],
            cluster.root / "replica-2-restart.log",
        )
        replica = PgServer(
            "replica-2",
            replica.port,
            replica.socket_dir,
            replica.data_dir,
            restarted,
            cluster.root / "replica-2-restart.log",
            replica.extra,
        )
        replica.wait_ready(60)
        assert "cloning" not in replica.log_text()
        assert replica.admin("SELECT pg_is_in_recovery()") == "t"
    finally:
        replica.stop()
        with contextlib.suppress(Exception):
            cluster.primary.admin("SELECT pg_drop_replication_slot('websys_replica_2')")


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stacks_postgresql_conf_is_accepted_by_postgres(cluster: Cluster, stack: str) -> None:
    """`postgres -C` parses the whole file and reports a setting, or fails on any bad line."""
    settings = stack_settings(stack)
    conf = _write(cluster.root / "etc" / f"postgresql-{stack}.conf", files.render_postgresql_conf(settings))
    result = run_as_postgres(
        [
            pg_binary("postgres"),
            "-D",
            str(cluster.primary.data_dir),
            "-c",
            f"config_file={conf}",
            "-C",
            "max_slot_wal_keep_size",
        ],
        pg_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(settings.postgres.max_slot_wal_keep_size_mb)


def test_failover_runbook_promote_then_rebuild_a_replica_from_the_new_primary(cluster: Cluster) -> None:
    """The failover runbook (docs/data-tier.md) on real servers (runs last: it turns the replica into a primary).
    1. pg_promote() on the replica; 2. the backend's role writes to it; 3. a new replica is
    bootstrapped from it by the same script (its slot is created on the new primary)."""
    replica = cluster.replica

    def app(server: PgServer, sql: str) -> str:
        result = server.psql(sql, user=cluster.app_user, password=cluster.app_password, dbname=cluster.db)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    app(cluster.primary, "CREATE TABLE failover (note text); INSERT INTO failover VALUES ('before')")
    assert wait_until(
        lambda: (
            replica.psql(
                "SELECT 1 FROM failover", user=cluster.app_user, password=cluster.app_password, dbname=cluster.db
            ).stdout.strip()
            == "1"
        ),
        30,
    )
    cluster.primary.stop()  # the primary is lost
    assert replica.admin("SELECT pg_promote(wait => true, wait_seconds => 30)") == "t"
    assert replica.admin("SELECT pg_is_in_recovery()") == "f"
    assert (
        app(replica, "WITH i AS (INSERT INTO failover VALUES ('after') RETURNING note) SELECT note FROM i") == "after"
    )
    rebuilt = start_replica(cluster.root, cluster.settings, 3, replica, "replica-3")
    try:
        assert "pg_basebackup creates it" in rebuilt.log_text()
        assert slot_state(replica, "websys_replica_3") == "websys_replica_3|streaming"
        # ... and it is the new primary's only walsender.
        assert replica.admin("SELECT count(*) FROM pg_stat_replication") == "1"
        assert app(rebuilt, "SELECT string_agg(note, ',' ORDER BY note) FROM failover") == "after,before"
        assert rebuilt.admin("SELECT pg_is_in_recovery()") == "t"
    finally:
        rebuilt.stop()
