"""`websys backup`, `restore` and `verify-backup` against a real PostgreSQL 15 and moto's S3 server.

The command runs as a user would run it (a subprocess, `--endpoint-url` pointing at the S3 server);
nothing inside it is mocked. Each test uses its own database and bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import pty
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from tests.live_servers import PG_BINDIR, MotoServer, PostgresServer, running_moto, running_postgres
from tests.planning import WEBSYS, run_websys
from websys.plan import PROJECT_DIR

pytestmark = pytest.mark.live

MB = 1_000_000
MANIFEST_KEY = "test-manifest-key-" + uuid.uuid4().hex
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "WEBSYS_PG_BINDIR": str(PG_BINDIR),
    "WEBSYS_BACKUP_MANIFEST_KEY": MANIFEST_KEY,
}

SAMPLE_SCHEMA = """
CREATE SCHEMA billing;
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, city text);
CREATE INDEX customers_name_idx ON customers (name);
CREATE SEQUENCE billing.invoice_numbers START 1000;
CREATE TABLE billing.invoices (number bigint PRIMARY KEY, customer_id int REFERENCES customers, total numeric(12, 2));
CREATE TABLE documents (id bigint PRIMARY KEY, body bytea NOT NULL, note text);
CREATE TABLE attachments (id int PRIMARY KEY, content oid NOT NULL);
INSERT INTO customers (name, city) SELECT 'お客様 ' || g, 'Zürich – 東京 ' || g FROM generate_series(1, 2000) g;
INSERT INTO billing.invoices
  SELECT nextval('billing.invoice_numbers'), 1 + g % 2000, g * 1.25 FROM generate_series(1, 3000) g;
INSERT INTO documents
  SELECT g, decode(md5(g::text) || md5((g * 7)::text), 'hex') || '\\x00ff00'::bytea, 'naïve café ' || g
  FROM generate_series(1, 500) g;
INSERT INTO attachments
  VALUES (1, lo_from_bytea(0, convert_to('大きなオブジェクト ' || repeat('データ', 50000), 'UTF8')));
"""


def fingerprint(pg: PostgresServer, database: str) -> dict[str, Any]:
    """Per-table checksums, indexes, sequences and large objects: equal fingerprints, equal data."""
    with pg.connect(database) as connection:
        tables = connection.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        checksums = {}
        for schema, table in tables:
            row = connection.execute(
                f'SELECT count(*), md5(coalesce(string_agg(t::text, $$|$$ ORDER BY t::text), $$$$)) FROM "{schema}"."{table}" t'  # noqa: S608 E501 catalog names
            ).fetchone()
            checksums[f"{schema}.{table}"] = row
        indexes = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog') ORDER BY 1"
        ).fetchall()
        sequences = connection.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
        ).fetchall()
        large_objects = connection.execute(
            "SELECT oid, md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY 1"
        ).fetchall()
    return {"tables": checksums, "indexes": indexes, "sequences": sequences, "large_objects": large_objects}


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    """A versioned bucket, as BackupStorage creates it (setup, not the tool under test)."""
    name = f"backups-{uuid.uuid4().hex[:12]}"
    s3 = s3_client(moto)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def sample_db(pg: PostgresServer) -> str:
    name = f"app_{uuid.uuid4().hex[:10]}"
    pg.create_database(name)
    with pg.connect(name) as connection:
        connection.execute(SAMPLE_SCHEMA)
    return name


def s3_client(moto: MotoServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def websys(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_websys(*args, env=CLIENT_ENV, timeout=timeout)


def s3_args(moto: MotoServer, bucket: str, pg: PostgresServer, database: str) -> list[str]:
    return ["--database-url", pg.url(database), "--bucket", bucket, "--prefix", "postgres", "--endpoint-url", moto.url]


def make_backup(moto: MotoServer, bucket: str, pg: PostgresServer, database: str, *extra: str) -> str:
    result = websys("backup", *s3_args(moto, bucket, pg, database), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[0]


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("websys: ")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.stderr


def test_round_trip_keeps_every_table_index_sequence_and_large_object(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    before = fingerprint(pg, sample_db)
    first = make_backup(moto, bucket, pg, sample_db)
    second = make_backup(moto, bucket, pg, sample_db, "--sse", "AES256")  # as the bucket policy demands
    assert first.startswith(f"postgres/{sample_db}/")
    assert first.endswith(".dump")

    listed = websys("backup", *s3_args(moto, bucket, pg, sample_db), "--list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [second, first]  # newest first

    s3 = s3_client(moto)
    head = s3.head_object(Bucket=bucket, Key=second)
    assert head["Metadata"]["database"] == sample_db
    assert head["ServerSideEncryption"] == "AES256"
    manifest_head = s3.head_object(Bucket=bucket, Key=f"{second}.manifest.json")
    assert manifest_head["ServerSideEncryption"] == "AES256"
    restored = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--latest", "--target-db", "restored_copy")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == "restored_copy"
    assert "sha256 and size verified" in restored.stderr
    assert "\x1b[" not in restored.stderr  # not a terminal: plain log lines, no progress bar
    again = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--latest", "--target-db", "restored_copy")
    assert_one_line_error(again, 2, "database 'restored_copy' already exists")
    after = fingerprint(pg, "restored_copy")
    assert after == before
    assert len(before["tables"]) == 4
    assert before["large_objects"]
    assert before["sequences"][0][2] == 3999


def test_replace_swaps_only_after_a_good_restore(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    with pg.connect() as connection:  # the application's own role owns its database
        connection.execute("CREATE ROLE app_owner")
        connection.execute(f'ALTER DATABASE "{sample_db}" OWNER TO app_owner')
    before = fingerprint(pg, sample_db)
    make_backup(moto, bucket, pg, sample_db)
    with pg.connect(sample_db) as connection:
        connection.execute("DELETE FROM billing.invoices WHERE number % 2 = 0")  # the incident
    result = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--latest", "--replace")
    assert result.returncode == 0, result.stderr
    assert fingerprint(pg, sample_db) == before
    with pg.connect(sample_db) as connection:  # restored by the superuser, yet owned by the application
        owners = connection.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace IN "
            "('public'::regnamespace, 'billing'::regnamespace)"
        ).fetchall()
        database_owner = connection.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert owners == [("app_owner",)]
    assert database_owner == ("app_owner",)
    kept = [name for name in pg.databases() if name.startswith(f"{sample_db}_before_")]
    assert len(kept) == 1  # the damaged database is kept for inspection


def resign(manifest: bytes, key: str = MANIFEST_KEY) -> bytes:
    """The manifest signed again, as only a holder of the manifest key can do."""
    fields = json.loads(manifest)
    fields.pop("signature")
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    fields["signature"] = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return json.dumps(fields).encode()


def _tamper_flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


@pytest.mark.parametrize(
    ("damage", "code", "message"),
    [
        ("corrupted", 1, "sha256 mismatch"),
        ("truncated", 1, "truncated"),
        ("wrong key", 2, "no such backup"),
    ],
)
def test_a_bad_object_is_refused_and_the_target_is_left_untouched(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str, damage: str, code: int, message: str
) -> None:
    key = make_backup(moto, bucket, pg, sample_db)
    s3 = s3_client(moto)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if damage == "corrupted":
        s3.put_object(Bucket=bucket, Key=key, Body=_tamper_flip(data))
    elif damage == "truncated":
        s3.put_object(Bucket=bucket, Key=key, Body=data[: len(data) * 2 // 3])
    else:
        key = key.replace(".dump", "0.dump")
    with pg.connect(sample_db) as connection:
        connection.execute("INSERT INTO customers (name) VALUES ('written after the backup')")
    before, databases = fingerprint(pg, sample_db), pg.databases()

    # In place of the live database (the strongest case); into a new one, the default, once.
    targets = [["--replace"], ["--target-db", "fresh_target"]] if damage == "corrupted" else [["--replace"]]
    for target in targets:
        result = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--key", key, *target)
        assert_one_line_error(result, code, message)
        assert fingerprint(pg, sample_db) == before
        assert pg.databases() == databases  # no half-restored database left behind


def test_verify_backup_passes_on_a_good_backup_and_fails_on_a_tampered_one(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    key = make_backup(moto, bucket, pg, sample_db)
    databases = pg.databases()
    good = websys("verify-backup", *s3_args(moto, bucket, pg, sample_db))
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("ok: ")
    assert "4 tables" in good.stdout
    assert pg.databases() == databases  # the scratch database is dropped

    s3 = s3_client(moto)
    manifest_key = key + ".manifest.json"
    manifest = s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
    # A wrong count under a valid signature (as if recorded wrongly): the drill itself must catch it.
    miscounted = resign(manifest.replace(b'"public.documents": 500', b'"public.documents": 501'))
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=miscounted)
    counted = websys("verify-backup", *s3_args(moto, bucket, pg, sample_db))
    assert_one_line_error(counted, 1, "public.documents: 500 rows restored, 501 recorded")

    s3.put_object(Bucket=bucket, Key=manifest_key, Body=manifest)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=_tamper_flip(data))
    tampered = websys("verify-backup", *s3_args(moto, bucket, pg, sample_db))
    assert_one_line_error(tampered, 1, "sha256 mismatch")
    assert pg.databases() == databases


def test_bad_input_exits_2_with_one_line(pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str) -> None:
    no_bucket = websys("backup", *s3_args(moto, "no-such-bucket", pg, sample_db))
    assert_one_line_error(no_bucket, 2, "NoSuchBucket")
    bad_url = websys(
        "backup", "--database-url", "postgresql://127.0.0.1:1/", "--bucket", bucket, "--endpoint-url", moto.url
    )
    assert_one_line_error(bad_url, 2, "names no database")
    unreachable = websys("backup", *s3_args(moto, bucket, pg, "no_such_database"))
    assert_one_line_error(unreachable, 2, "cannot connect")
    neither = websys("restore", *s3_args(moto, bucket, pg, sample_db))
    assert_one_line_error(neither, 2, "--latest")


def test_a_200_mb_database_is_backed_up_in_bounded_memory(pg: PostgresServer, moto: MotoServer, bucket: str) -> None:
    name = "bench"
    pg.create_database(name)
    env = {**os.environ, "PGPASSWORD": "", "PGHOST": str(pg.root), "PGPORT": str(pg.port)}
    init = [str(PG_BINDIR / "pgbench"), "-i", "-s", "22", "-I", "dtg", "-q", "-U", "postgres", name]
    if os.geteuid() == 0:
        init = ["runuser", "-u", "postgres", "--", *init]  # local socket, trust
    subprocess.run(init, check=True, capture_output=True, timeout=180, env=env)
    with pg.connect(name) as connection:
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    database_size = row[0]
    assert database_size >= 200 * MB

    # Uncompressed, so the stream itself is over 200 MB; peak RSS from the kernel's own accounting.
    args = [*WEBSYS, "backup", *s3_args(moto, bucket, pg, name), "--compress", "0"]
    process = subprocess.Popen(
        args,
        cwd=PROJECT_DIR,
        env={**os.environ, **CLIENT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The process's own high-water mark (VmHWM), read until it exits: pg_dump, its child, is not counted.
    peak_kib = 0
    while process.poll() is None:
        with contextlib.suppress(OSError):
            status_text = Path(f"/proc/{process.pid}/status").read_text()
            # An exiting (zombie) process has no Vm* lines any more: keep the last value seen.
            for line in status_text.splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        time.sleep(0.02)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    key = stdout.split()[0]
    size = s3_client(moto).head_object(Bucket=bucket, Key=key)["ContentLength"]
    assert size >= 200 * MB
    peak_mb = peak_kib * 1024 / MB
    print(f"database {database_size / MB:.0f} MB, dump {size / MB:.0f} MB: peak RSS {peak_mb:.0f} MB")
    assert 30 < peak_mb < 150


def test_a_terminal_gets_a_progress_bar(pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str) -> None:
    controller, terminal = pty.openpty()
    args = [*WEBSYS, "backup", *s3_args(moto, bucket, pg, sample_db)]
    env = {**os.environ, **CLIENT_ENV, "TERM": "xterm", "COLUMNS": "100"}
    process = subprocess.Popen(args, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
        while chunk := os.read(controller, 65536):
            shown += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    text = shown.decode(errors="replace")
    assert "\x1b[" in text  # drawn with terminal control sequences
    assert "━" in text  # rich's bar
    assert f"backup s3://{bucket}/postgres/{sample_db}/" in text
