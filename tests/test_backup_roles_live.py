"""The deployed roles: PostgreSQL 15 started with the rendered postgresql.conf and pg_hba.conf and
initialised by the rendered init script; the backup job's commands run as the job's own role (as
the container does, with the URL `websys.backup.job_env.database_url` builds), against moto's S3.

The drill (verify-backup) must work as that role, and nothing beyond it: no writes to the
application's data, no dropping or renaming its database, no `restore --replace`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from tests.datatier import (
    PgServer,
    give_to_postgres,
    init_and_start,
    new_password,
    pg_env,
    run_as_postgres,
)
from tests.live_servers import PG_BINDIR, MotoServer, running_moto
from tests.planning import run_websys, stack_settings
from websys.backup.job_env import database_url
from websys.render import postgres as files
from websys.settings import Settings

pytestmark = [pytest.mark.timeout(300), pytest.mark.live]
MANIFEST_KEY = "roles-test-manifest-key-" + uuid.uuid4().hex


@dataclass
class Deployed:
    settings: Settings
    server: PgServer
    app_password: str
    backup_password: str
    moto: MotoServer

    @property
    def db(self) -> str:
        return self.settings.database.name

    @property
    def app(self) -> str:
        return self.settings.database.user

    @property
    def backup_role(self) -> str:
        return files.backup_role(self.settings)

    def job_url(self, database: str | None = None) -> str:
        url = database_url(self.settings, self.backup_password)  # exactly the job's variable ...
        url = url.replace(f"@postgres-primary:{self.settings.database.port}/", f"@127.0.0.1:{self.server.port}/")
        return url if database is None else url.rsplit("/", 1)[0] + "/" + database  # ... made local

    def as_app(self, sql: str) -> subprocess.CompletedProcess[str]:
        return self.server.psql(sql, user=self.app, password=self.app_password, dbname=self.db)

    def as_job(self, sql: str, dbname: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.server.psql(sql, user=self.backup_role, password=self.backup_password, dbname=dbname or self.db)

    def databases(self) -> set[str]:
        return set(self.server.admin("SELECT datname FROM pg_database").split())


def _write(path: Path, text: str, mode: int = 0o444) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    give_to_postgres(path)
    return path


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    settings = stack_settings("production", ["dataNetwork.subnet=127.0.0.0/24"])  # loopback as the data network
    root = Path(tempfile.mkdtemp(prefix="websys-backup-roles-"))
    give_to_postgres(root)
    server: PgServer | None = None
    try:
        app_password, backup_password = new_password(), new_password()
        secrets = {"database": app_password, "replication": new_password(), "backup": backup_password}
        for name, value in secrets.items():
            _write(root / "secrets" / f"{name}-password", value, 0o400)
        conf = _write(root / "etc" / "postgresql.conf", files.render_postgresql_conf(settings))
        hba = _write(root / "etc" / "pg_hba.conf", files.render_pg_hba(settings))
        init = _write(root / "etc" / "init.sh", files.render_primary_init(settings), 0o555)
        sockets = root / "sock"
        sockets.mkdir(mode=0o700)
        give_to_postgres(sockets)
        (root / "primary").mkdir()
        give_to_postgres(root / "primary")
        server = init_and_start(
            "primary",
            root / "primary" / "pgdata",
            conf,
            hba,
            sockets,
            root / "primary.log",
            [f"--pwfile={root / 'secrets' / 'database-password'}", "--auth-local=peer", "--auth-host=scram-sha-256"],
        )
        ran = run_as_postgres(
            ["sh", str(init)],
            pg_env(
                PGHOST=str(sockets),
                PGPORT=str(server.port),
                WEBSYS_DATABASE_PASSWORD_FILE=str(root / "secrets" / "database-password"),
                WEBSYS_REPLICATION_PASSWORD_FILE=str(root / "secrets" / "replication-password"),
                WEBSYS_BACKUP_PASSWORD_FILE=str(root / "secrets" / "backup-password"),
            ),
        )
        assert ran.returncode == 0, ran.stderr
        with running_moto() as moto:
            yield Deployed(settings, server, app_password, backup_password, moto)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def grant_large_object(deployed: Deployed) -> str:
    return f"GRANT SELECT ON LARGE OBJECT 4242 TO {deployed.backup_role};"


@pytest.fixture(scope="module")
def app_data(deployed: Deployed) -> None:
    """The application's schema, created by the application's own role (it owns everything)."""
    made = deployed.as_app(
        'CREATE SCHEMA "billing dept";'  # noqa: S608 fixed test SQL
        'CREATE TABLE "billing dept"."open invoices" (id int PRIMARY KEY, total numeric(10, 2));'
        'INSERT INTO "billing dept"."open invoices" SELECT g, g * 1.5 FROM generate_series(1, 300) g;'
        "CREATE TABLE customers (id serial PRIMARY KEY, name text);"
        "INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 1000) g;"
        # Large objects have their own privileges, which pg_read_all_data does not cover.
        "SELECT lo_from_bytea(4242, 'a large object');" + grant_large_object(deployed)
    )
    assert made.returncode == 0, made.stderr


def s3(deployed: Deployed) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=deployed.moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(deployed: Deployed) -> str:
    name = f"roles-{uuid.uuid4().hex[:12]}"
    s3(deployed).create_bucket(Bucket=name)
    return name


def websys(deployed: Deployed, bucket: str, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "WEBSYS_PG_BINDIR": str(PG_BINDIR),
        "WEBSYS_BACKUP_MANIFEST_KEY": MANIFEST_KEY,
        "WEBSYS_DATABASE_URL": url or deployed.job_url(),
        "WEBSYS_BACKUP_BUCKET": bucket,
        "WEBSYS_S3_ENDPOINT_URL": deployed.moto.url,
    }
    return run_websys(*args, env=env, timeout=180)


def test_the_job_role_backs_up_and_runs_its_drill(deployed: Deployed, app_data: None, bucket: str) -> None:
    before = deployed.databases()
    made = websys(deployed, bucket, "backup")
    assert made.returncode == 0, made.stderr
    drill = websys(deployed, bucket, "verify-backup")
    assert drill.returncode == 0, drill.stderr
    assert "2 tables (1300 rows) match" in drill.stdout
    assert deployed.databases() == before  # its scratch database is gone again
    restored = websys(deployed, bucket, "restore", "--latest", "--target-db", "inspect_copy")
    assert restored.returncode == 0, restored.stderr
    counted = deployed.as_job('SELECT count(*) FROM "billing dept"."open invoices"', dbname="inspect_copy")
    assert counted.stdout.strip() == "300", counted.stderr
    assert deployed.as_job("SELECT convert_from(lo_get(4242), 'UTF8')", dbname="inspect_copy").stdout.strip() == (
        "a large object"
    )
    deployed.server.admin('DROP DATABASE "inspect_copy"')


def test_the_job_role_can_do_nothing_more(deployed: Deployed, app_data: None, bucket: str) -> None:
    refused = {
        "write the application's data": "INSERT INTO customers (name) VALUES ('intruder')",
        "change its schema": "DROP TABLE customers",
        "drop its database": f"DROP DATABASE {deployed.db}",
        "rename its database": f"ALTER DATABASE {deployed.db} RENAME TO stolen",
        "create a database as the application": f"CREATE DATABASE planted OWNER {deployed.app}",
        "create roles": "CREATE ROLE another",
    }
    for what, sql in refused.items():
        result = deployed.as_job(sql)
        assert result.returncode != 0, what
        assert "permission denied" in result.stderr or "must be" in result.stderr, (what, result.stderr)
    assert deployed.as_job("SELECT count(*) FROM customers").stdout.strip() == "1000"
    # Not admitted by pg_hba as the application role to other databases, nor as the superuser.
    other = deployed.server.psql("SELECT 1", user=deployed.app, password=deployed.app_password, dbname="postgres")
    assert other.returncode != 0
    assert "no pg_hba.conf entry" in other.stderr


def test_replace_as_the_job_role_is_refused_before_anything_is_touched(
    deployed: Deployed, app_data: None, bucket: str
) -> None:
    made = websys(deployed, bucket, "backup")
    assert made.returncode == 0, made.stderr
    before = deployed.databases()
    result = websys(deployed, bucket, "restore", "--latest", "--replace")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("websys: ")]
    assert len(errors) == 1, result.stderr
    assert f"role '{deployed.backup_role}' may not rename database '{deployed.db}'" in errors[0]
    assert deployed.databases() == before


def test_replace_runs_as_the_job_given_the_owners_role_for_the_occasion(
    deployed: Deployed, app_data: None, bucket: str
) -> None:
    """The runbook: an operator grants the job's role the application's role over the local
    socket, runs `restore --latest --replace` in the job's container, and revokes it again."""
    made = websys(deployed, bucket, "backup")
    assert made.returncode == 0, made.stderr
    assert deployed.as_app("DELETE FROM customers WHERE id > 10").returncode == 0  # the incident
    deployed.server.admin(f"GRANT {deployed.app} TO {deployed.backup_role}")
    try:
        result = websys(deployed, bucket, "restore", "--latest", "--replace")
    finally:
        deployed.server.admin(f"REVOKE {deployed.app} FROM {deployed.backup_role}")
    assert result.returncode == 0, result.stderr
    assert deployed.as_app("SELECT count(*) FROM customers").stdout.strip() == "1000"
    owner = deployed.as_app("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
    assert owner.stdout.strip() == deployed.app
    # Dumps carry no grants (--no-privileges): the application grants its large objects again.
    assert deployed.as_app(grant_large_object(deployed)).returncode == 0
    # The job keeps its CONNECT grant on the database swapped in: its backups and drills go on.
    assert websys(deployed, bucket, "backup").returncode == 0
    assert websys(deployed, bucket, "verify-backup").returncode == 0
    kept = [name for name in deployed.databases() if name.startswith(f"{deployed.db}_before_")]
    for name in kept:
        deployed.server.admin(f'DROP DATABASE "{name}"')
    assert len(kept) == 1
