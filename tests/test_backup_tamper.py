"""Backups under concurrency and tampering, and the backup commands' messages, against a real
PostgreSQL 15 and moto's S3 server (the fixtures and helpers of tests/test_backup_restore.py).

Anyone with the job's S3 write credentials can put objects in the bucket; only the stack's
manifest key signs manifests. Nothing planted, edited or moved may be restored, and one bad
manifest must not stop the recovery of a good backup.
"""

# ruff: noqa: F811 (pytest fixtures, imported from tests/test_backup_restore.py, are parameters by name)
from __future__ import annotations

import concurrent.futures
import json
import subprocess
import uuid

import pytest

from tests.live_servers import MotoServer, PostgresServer
from tests.test_backup_restore import (  # noqa: F401 the fixtures are used by name
    SAMPLE_SCHEMA,
    assert_one_line_error,
    bucket,
    fingerprint,
    make_backup,
    moto,
    pg,
    resign,
    s3_args,
    s3_client,
    sample_db,
    websys,
)

pytestmark = pytest.mark.live


def manifest_of(moto: MotoServer, bucket: str, key: str) -> bytes:
    return bytes(s3_client(moto).get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read())


def put(moto: MotoServer, bucket: str, key: str, body: bytes) -> None:
    s3_client(moto).put_object(Bucket=bucket, Key=key, Body=body)


def newer_key(key: str, tag: str) -> str:
    """A key that sorts after `key` (a later time) under the same prefix."""
    prefix = key.rsplit("/", 1)[0]
    return f"{prefix}/29991231T235959.999999Z-{tag}.dump"


def listed(moto: MotoServer, bucket: str, pg: PostgresServer, database: str) -> subprocess.CompletedProcess[str]:
    return websys("backup", *s3_args(moto, bucket, pg, database), "--list")


def test_backups_started_together_all_land_and_each_restores(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: websys("backup", *s3_args(moto, bucket, pg, sample_db)), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    keys = [r.stdout.split()[0] for r in results]
    assert len(set(keys)) == 4  # sub-second time plus a random part: no run overwrote another
    shown = listed(moto, bucket, pg, sample_db)
    assert shown.returncode == 0, shown.stderr
    assert sorted(line.split()[0] for line in shown.stdout.splitlines()) == sorted(keys)
    for key in keys:  # each dump with its own run's manifest
        manifest = json.loads(manifest_of(moto, bucket, key))
        head = s3_client(moto).head_object(Bucket=bucket, Key=key)
        assert (manifest["key"], manifest["size"]) == (key, head["ContentLength"])
    drill = websys("verify-backup", *s3_args(moto, bucket, pg, sample_db), "--key", keys[0])
    assert drill.returncode == 0, drill.stderr


def test_a_listing_never_shows_a_half_written_pair(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    key = make_backup(moto, bucket, pg, sample_db)
    # A run that died after its upload and before its manifest; and a manifest whose dump is gone.
    put(moto, bucket, newer_key(key, "a" * 16), b"PGDMP partial")
    orphan = newer_key(key, "b" * 16)
    put(
        moto,
        bucket,
        orphan + ".manifest.json",
        resign(manifest_of(moto, bucket, key).replace(key.encode(), orphan.encode())),
    )
    shown = listed(moto, bucket, pg, sample_db)
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[0] for line in shown.stdout.splitlines()] == [key]
    assert f"skipped: s3://{bucket}/{orphan}: the dump is missing" in shown.stderr


def test_a_planted_backup_of_another_database_is_never_restored(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    """A dump of another database, with a self-consistent manifest (its own sha256 and size, signed
    with a key that is not the stack's), placed under the database's prefix with a later time."""
    genuine = make_backup(moto, bucket, pg, sample_db)
    before = fingerprint(pg, sample_db)
    other = f"other_{uuid.uuid4().hex[:8]}"
    pg.create_database(other)
    with pg.connect(other) as connection:
        connection.execute("CREATE TABLE customers (id int); INSERT INTO customers VALUES (666)")
    planted_from = make_backup(moto, bucket, pg, other)
    planted = newer_key(genuine, "c" * 16)
    s3 = s3_client(moto)
    s3.copy_object(Bucket=bucket, Key=planted, CopySource={"Bucket": bucket, "Key": planted_from})
    forged = manifest_of(moto, bucket, planted_from).replace(planted_from.encode(), planted.encode())
    forged = forged.replace(f'"database": "{other}"'.encode(), f'"database": "{sample_db}"'.encode())
    put(moto, bucket, planted + ".manifest.json", resign(forged, key="the attacker's own key"))

    with pg.connect(sample_db) as connection:
        connection.execute("DELETE FROM billing.invoices WHERE number % 2 = 0")  # the incident
    result = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--latest", "--replace")
    assert result.returncode == 0, result.stderr
    assert f"skipped: s3://{bucket}/{planted}.manifest.json: manifest signature does not match" in result.stderr
    assert f"restore: s3://{bucket}/{genuine} restored" in result.stderr
    assert fingerprint(pg, sample_db) == before  # the genuine backup, not the planted one
    by_key = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--key", planted)
    assert_one_line_error(by_key, 1, "manifest signature does not match")


def test_a_genuine_manifest_moved_or_naming_another_database_is_refused(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    genuine = make_backup(moto, bucket, pg, sample_db)
    s3 = s3_client(moto)
    # An old, validly signed pair replayed under a newer name.
    moved = newer_key(genuine, "d" * 16)
    s3.copy_object(Bucket=bucket, Key=moved, CopySource={"Bucket": bucket, "Key": genuine})
    put(moto, bucket, moved + ".manifest.json", manifest_of(moto, bucket, genuine))
    result = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--key", moved, "--target-db", "moved_copy")
    assert_one_line_error(result, 1, f"manifest describes another backup ('{genuine}')")
    # Signed with the stack's key but naming another database: where it lies decides.
    elsewhere = resign(
        manifest_of(moto, bucket, genuine).replace(f'"database": "{sample_db}"'.encode(), b'"database": "billing"')
    )
    put(moto, bucket, genuine + ".manifest.json", elsewhere)
    wrong_db = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--key", genuine, "--target-db", "x_copy")
    assert_one_line_error(wrong_db, 1, f"manifest describes database 'billing', not '{sample_db}'")
    # A key under another database's prefix.
    foreign = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--key", "postgres/billing/x.dump")
    assert_one_line_error(foreign, 2, f"not a backup of database '{sample_db}'")
    assert not {"moved_copy", "x_copy"} & pg.databases()


def test_one_corrupt_older_manifest_breaks_neither_list_nor_latest(
    pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str
) -> None:
    older = make_backup(moto, bucket, pg, sample_db)
    newer = make_backup(moto, bucket, pg, sample_db)
    good_older = manifest_of(moto, bucket, older)
    put(moto, bucket, older + ".manifest.json", b'{"format": "websys-backup/2", "key": trunc')
    shown = listed(moto, bucket, pg, sample_db)
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[0] for line in shown.stdout.splitlines()] == [newer]
    assert f"skipped: s3://{bucket}/{older}.manifest.json: unreadable manifest" in shown.stderr
    restored = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--latest", "--target-db", "after_corrupt")
    assert restored.returncode == 0, restored.stderr
    assert fingerprint(pg, "after_corrupt") == fingerprint(pg, sample_db)
    # Now the newest is the bad one: --latest skips it, names it, and drills the older good one.
    put(moto, bucket, older + ".manifest.json", good_older)
    put(moto, bucket, newer + ".manifest.json", b"\x00\xff not json")
    drill = websys("verify-backup", *s3_args(moto, bucket, pg, sample_db))
    assert drill.returncode == 0, drill.stderr
    assert f"skipped: s3://{bucket}/{newer}.manifest.json: unreadable manifest" in drill.stderr
    assert drill.stdout.startswith(f"ok: s3://{bucket}/{older}:")


def test_verify_backup_accepts_names_with_spaces_and_quotes(pg: PostgresServer, moto: MotoServer, bucket: str) -> None:
    name = f"odd_{uuid.uuid4().hex[:6]}"
    pg.create_database(name)
    with pg.connect(name) as connection:
        connection.execute(
            'CREATE SCHEMA "sales team"; '  # noqa: S608 fixed test SQL
            'CREATE TABLE "sales team"."open ""orders"" 2026" (id int PRIMARY KEY, note text); '
            'INSERT INTO "sales team"."open ""orders"" 2026" SELECT g, \'x\' FROM generate_series(1, 77) g; '
            'CREATE TABLE "naïve café" (id int); INSERT INTO "naïve café" VALUES (1), (2); '
            + SAMPLE_SCHEMA.split("INSERT INTO attachments")[0]
        )
    make_backup(moto, bucket, pg, name)
    drill = websys("verify-backup", *s3_args(moto, bucket, pg, name))
    assert drill.returncode == 0, drill.stderr
    assert "6 tables" in drill.stdout


def test_messages_are_one_line_and_never_show_the_password(moto: MotoServer, bucket: str) -> None:
    secret = "Hunter2-NeverShown"
    for url in (
        f"postgresql://app:{secret}@127.0.0.1:notaport/app",
        f"postgresql://app:{secret}@127.0.0.1:5432/app?sslmode=bogus&x=1",
        f"host=127.0.0.1 password='{secret} dbname=app",
        f"postgresql://app:{secret}@[::1/app",
    ):
        result = websys("backup", "--database-url", url, "--bucket", bucket, "--endpoint-url", moto.url)
        assert result.returncode == 2, result.stderr
        assert secret not in result.stderr + result.stdout
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    no_scheme = websys(
        "backup",
        "--database-url",
        "postgresql://app@127.0.0.1:1/app",
        "--bucket",
        bucket,
        "--endpoint-url",
        "127.0.0.1:9000",
    )
    assert_one_line_error(no_scheme, 2, "--endpoint-url: '127.0.0.1:9000' is not a URL")
    assert len(no_scheme.stderr.strip().splitlines()) == 1


def test_done_is_said_only_on_success(pg: PostgresServer, moto: MotoServer, bucket: str, sample_db: str) -> None:
    key = make_backup(moto, bucket, pg, sample_db)
    data = s3_client(moto).get_object(Bucket=bucket, Key=key)["Body"].read()
    put(moto, bucket, key, data[: len(data) // 2])
    failed = websys("restore", *s3_args(moto, bucket, pg, sample_db), "--key", key)
    assert_one_line_error(failed, 1, "truncated")
    assert "done" not in failed.stderr
    assert failed.stderr.strip().splitlines() == [
        line for line in failed.stderr.strip().splitlines() if line.startswith("websys: ")
    ]
