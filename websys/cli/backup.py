"""`websys backup`, `websys restore`, `websys verify-backup`: PostgreSQL to S3 and back.

Every option can also come from the environment (the backup job container is configured that way,
so the database password and the S3 credentials never appear on a command line). AWS credentials
come from the usual places (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance role).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import typer

from websys.backup.errors import EXIT_BAD_INPUT, EXIT_FAILED, BackupError
from websys.backup.progress import log, reporter

if TYPE_CHECKING:  # boto3 and psycopg load only when a backup command runs, not for `websys plan`
    from websys.backup.pg import Database
    from websys.backup.store import BackupStore, Manifest

MIB = 1024 * 1024

T = TypeVar("T")

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="WEBSYS_DATABASE_URL",
        show_envvar=True,
        help="postgresql://user:password@host:port/database (better: set WEBSYS_DATABASE_URL).",
    ),
]
Bucket = Annotated[str, typer.Option("--bucket", envvar="WEBSYS_BACKUP_BUCKET", help="The S3 bucket.")]
Prefix = Annotated[str, typer.Option("--prefix", envvar="WEBSYS_BACKUP_PREFIX", help="Key prefix in the bucket.")]
EndpointUrl = Annotated[
    Optional[str],  # noqa: UP045 typer needs Optional
    typer.Option("--endpoint-url", envvar="WEBSYS_S3_ENDPOINT_URL", help="An S3-compatible endpoint instead of AWS."),
]
Region = Annotated[Optional[str], typer.Option("--region", envvar="AWS_DEFAULT_REGION", help="The bucket's region.")]  # noqa: UP045
Sse = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--sse", envvar="WEBSYS_BACKUP_SSE", help="Server-side encryption to request: aws:kms or AES256."),
]
SseKey = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--sse-kms-key-id", envvar="WEBSYS_BACKUP_KMS_KEY_ID", help="The KMS key for aws:kms."),
]
ManifestKey = Annotated[
    str,
    typer.Option(
        "--manifest-key",
        envvar="WEBSYS_BACKUP_MANIFEST_KEY",
        show_envvar=True,
        help="The secret that signs manifests (better: set WEBSYS_BACKUP_MANIFEST_KEY).",
    ),
]
Key = Annotated[Optional[str], typer.Option("--key", help="The backup's key (see --list).")]  # noqa: UP045
Latest = Annotated[bool, typer.Option("--latest", help="The newest backup of the database.")]


def _run(action: Callable[[], T], interrupted: str) -> T:
    """Run one command body: a BackupError becomes its one line and exit code; SIGINT and SIGTERM
    (`docker stop`) unwind the same way, and are told in one line saying what was left."""
    import psycopg  # noqa: PLC0415 only the backup commands need it

    from websys.backup import signals  # noqa: PLC0415

    signals.install()
    try:
        return action()
    except KeyboardInterrupt as error:
        signum = error.signum if isinstance(error, signals.Interrupted) else 2
        name = error.name if isinstance(error, signals.Interrupted) else "SIGINT"
        print(f"websys: interrupted by {name}: {interrupted}", file=sys.stderr)
        raise SystemExit(128 + signum) from None
    except BackupError as error:
        print(f"websys: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code) from None
    except psycopg.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        print(f"websys: database error: {reason}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None


def _store(
    bucket: str,
    prefix: str,
    endpoint_url: str | None,
    region: str | None,
    sse: str | None,
    key: str | None,
    manifest_key: str,
) -> BackupStore:
    if endpoint_url is not None and not re.match(r"^https?://[^/\s]+", endpoint_url):
        raise BackupError(
            f"--endpoint-url: {endpoint_url!r} is not a URL: give its scheme, e.g. http://{endpoint_url}",
            EXIT_BAD_INPUT,
        )
    secret = manifest_key.strip().encode()
    if len(secret) < 16:
        raise BackupError(
            "--manifest-key (WEBSYS_BACKUP_MANIFEST_KEY): missing or shorter than 16 bytes; "
            "it signs every manifest and is checked before any restore",
            EXIT_BAD_INPUT,
        )
    if sse not in (None, "aws:kms", "AES256"):
        raise BackupError(f"--sse: {sse!r} is not aws:kms or AES256", EXIT_BAD_INPUT)
    if key and sse != "aws:kms":
        raise BackupError("--sse-kms-key-id needs --sse aws:kms", EXIT_BAD_INPUT)
    from websys.backup.store import BackupStore, Encryption  # noqa: PLC0415

    return BackupStore(bucket, prefix.strip("/"), endpoint_url, region, Encryption(sse, key), secret)


def _database(url: str) -> Database:
    from websys.backup.pg import Database  # noqa: PLC0415

    return Database.from_url(url)


def _describe(manifest: Manifest) -> str:
    return f"{manifest.key}  {manifest.created}  {manifest.size} bytes  sha256 {manifest.sha256}"


def backup(
    database_url: DatabaseUrl,
    bucket: Bucket,
    manifest_key: ManifestKey = "",
    prefix: Prefix = "postgres",
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    sse: Sse = None,
    sse_kms_key_id: SseKey = None,
    list_backups: Annotated[bool, typer.Option("--list", help="List the database's backups, newest first.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="With --list: print JSON.")] = False,
    part_size_mb: Annotated[
        int, typer.Option("--part-size-mb", min=5, max=512, help="Upload part size (memory use).")
    ] = 16,
    compress: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--compress", min=0, max=9, help="pg_dump's compression level (default: pg_dump's)."),
    ] = None,
    schedule: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--schedule", envvar="WEBSYS_BACKUP_SCHEDULE", help="Run forever: back up on this cron schedule (UTC)."
        ),
    ] = None,
    verify_schedule: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--verify-schedule", envvar="WEBSYS_VERIFY_SCHEDULE", help="With --schedule: restore drills."),
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option("--metrics-port", envvar="WEBSYS_METRICS_PORT", help="With --schedule: Prometheus metrics port."),
    ] = 9188,
) -> None:
    """Stream `pg_dump --format=custom` into the bucket (no temporary file), or list backups."""

    def body() -> None:
        from websys.backup import operations  # noqa: PLC0415

        db = _database(database_url)
        store = _store(bucket, prefix, endpoint_url, region, sse, sse_kms_key_id, manifest_key)
        if list_backups:
            backups = store.list_backups(db.name)
            if json_output:
                print(json.dumps([json.loads(m.dumps()) for m in backups], indent=2))
            for manifest in [] if json_output else backups:
                print(_describe(manifest))
            return
        if schedule:
            _run_scheduled(db, store, schedule, verify_schedule, metrics_port, part_size_mb, compress)
            return
        manifest = operations.backup(db, store, reporter, part_size=part_size_mb * MIB, compress=compress)
        log(f"backup: {store.url(manifest.key)}: {manifest.size} bytes in {manifest.duration_seconds:.1f}s")
        print(_describe(manifest))

    _run(
        body,
        "stopped; any upload in progress aborted, any incomplete database dropped"
        if schedule
        else "the multipart upload was aborted; no backup was written",
    )


def _run_scheduled(
    db: Database,
    store: BackupStore,
    schedule: str,
    verify_schedule: str | None,
    port: int,
    part_size_mb: int,
    compress: int | None,
) -> None:
    from websys.backup import daemon, operations  # noqa: PLC0415
    from websys.backup.progress import LogReporter  # noqa: PLC0415
    from websys.backup.schedule import CronError, parse_cron  # noqa: PLC0415

    def plain(label: str, total: int | None) -> LogReporter:
        return LogReporter(label, total)

    try:
        backup_cron = parse_cron(schedule)
        verify_cron = parse_cron(verify_schedule) if verify_schedule else None
    except CronError as error:
        raise BackupError(f"--schedule: {error}", EXIT_BAD_INPUT) from None

    def do_backup() -> tuple[int, float]:
        started = time.monotonic()
        manifest = operations.backup(db, store, plain, part_size=part_size_mb * MIB, compress=compress)
        log(f"backup: {store.url(manifest.key)}: {manifest.size} bytes")
        return manifest.size, time.monotonic() - started

    def do_verify() -> None:
        manifest = operations.resolve(store, db, None, latest=True)
        result = operations.verify(db, store, manifest, plain)
        log(f"verify-backup: {store.url(manifest.key)}: {result.tables} tables, {result.rows} rows: ok")

    state = daemon.JobState(database=db.name)
    jobs = [daemon.Job("backup", backup_cron, lambda s: daemon.run_backup_job(s, do_backup))]
    if verify_cron is not None:
        jobs.append(daemon.Job("verify-backup", verify_cron, lambda s: daemon.run_verify_job(s, do_verify)))
    daemon.serve_metrics(state, port)
    log(
        f"metrics on :{port}/metrics; backups on {schedule!r}"
        + (f", drills on {verify_schedule!r}" if verify_schedule else "")
    )
    daemon.run_forever(state, jobs)


def restore(
    database_url: DatabaseUrl,
    bucket: Bucket,
    prefix: Prefix = "postgres",
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    manifest_key: ManifestKey = "",
    key: Key = None,
    latest: Latest = False,
    target_db: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--target-db", help="The new database to restore into (default: <database>_restored_<time>)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Swap the restored database in for the live one once it succeeded.")
    ] = False,
) -> None:
    """Restore a backup into a new database, verifying its size and sha256 as it streams."""

    def body() -> None:
        from websys.backup import operations  # noqa: PLC0415

        db = _database(database_url)
        store = _store(bucket, prefix, endpoint_url, region, None, None, manifest_key)
        manifest = operations.resolve(store, db, key, latest)
        where = operations.restore(db, store, manifest, reporter, target_db=target_db, replace=replace)
        log(f"restore: {store.url(manifest.key)} restored into database {where!r}; sha256 and size verified")
        print(where)

    _run(body, "the incomplete database was dropped; nothing was changed")


def verify_backup(
    database_url: DatabaseUrl,
    bucket: Bucket,
    prefix: Prefix = "postgres",
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    manifest_key: ManifestKey = "",
    key: Key = None,
) -> None:
    """Restore the latest backup (or --key) into a scratch database and check it; exit 1 on a mismatch."""

    def body() -> None:
        from websys.backup import operations  # noqa: PLC0415

        db = _database(database_url)
        store = _store(bucket, prefix, endpoint_url, region, None, None, manifest_key)
        manifest = operations.resolve(store, db, key, latest=key is None)
        result = operations.verify(db, store, manifest, reporter)
        print(
            f"ok: {store.url(manifest.key)}: signature, sha256, catalogue and "
            f"{result.tables} tables ({result.rows} rows) match"
        )

    _run(body, "the scratch database was dropped; nothing was changed")
