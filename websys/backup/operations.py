"""Backup, restore and verify: PostgreSQL's own client tools, streamed to and from the bucket.

Backup: a REPEATABLE READ transaction exports its snapshot; `pg_dump --snapshot` dumps exactly what
that transaction sees, and the same transaction then counts every table's rows for the manifest.
pg_dump's stdout goes straight into a multipart upload (one part in memory, no temporary file).

Restore and verify never write into an existing database: they create a new one, stream the object
into `pg_restore` while hashing it, and keep the new database only if the size and sha256 match the
manifest and pg_restore succeeded. Otherwise the new database is dropped. `--replace` renames the
live database away and the restored one into its place only after all of that succeeded.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import psycopg

from websys.backup.errors import EXIT_BAD_INPUT, EXIT_FAILED, BackupError
from websys.backup.pg import (
    Database,
    create_database,
    current_role,
    database_exists,
    database_owner,
    drop_database,
    find_binary,
    row_counts,
    swap_databases,
)
from websys.backup.progress import Reporter, log
from websys.backup.store import MIB, BackupStore, Manifest, timestamp_key

ReporterFactory = Callable[[str, int | None], Reporter]
_TABLE_DATA = re.compile(r"^\d+;\s+\d+\s+\d+\s+TABLE DATA\s+(\S+)\s+(\S+)")


class _Tail:
    """Drains a pipe in a thread (so the child never blocks on it) and keeps its last lines."""

    def __init__(self, pipe: IO[bytes], keep: int | None = 20) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe: IO[bytes]) -> None:
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.lines.append(line)

    def join(self) -> list[str]:
        self._thread.join(timeout=30)
        return list(self.lines)

    def last(self) -> str:
        lines = self.join()
        return lines[-1] if lines else "no message"


class _Sink:
    """A child process fed on stdin; if it exits early, writes to it stop and the stream goes on."""

    def __init__(self, args: Sequence[str], env: dict[str, str], capture_stdout: bool = False) -> None:
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdin is not None
        assert self.process.stderr is not None
        self.stdin = self.process.stdin
        self.stderr = _Tail(self.process.stderr)
        self.stdout = _Tail(self.process.stdout, keep=None) if capture_stdout and self.process.stdout else None
        self.open = True

    def write(self, chunk: bytes) -> None:
        if not self.open:
            return
        try:
            self.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            self.open = False

    def finish(self, timeout: float | None = None) -> int:
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        code = self.process.wait(timeout=timeout)
        self.stderr.join()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _now() -> datetime:
    return datetime.now(UTC)


def _derived_name(base: str, suffix: str) -> str:
    """`base_suffix`, shortened to PostgreSQL's 63-byte identifier limit."""
    return f"{base[: 62 - len(suffix)]}_{suffix}"


def _pg_dump_version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.strip() or "unknown"


# Backup


def backup(
    db: Database,
    store: BackupStore,
    progress: ReporterFactory,
    part_size: int = 16 * MIB,
    compress: int | None = None,
) -> Manifest:
    pg_dump = find_binary("pg_dump")
    started_at, started = _now(), time.monotonic()
    key = timestamp_key(store.prefix, db.name, started_at)
    with db.connect(autocommit=False) as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        snapshot, encoding, server_version = _one(
            connection,
            "SELECT pg_export_snapshot(), pg_encoding_to_char(encoding), current_setting('server_version') "
            "FROM pg_database WHERE datname = current_database()",
        )
        args = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
        if compress is not None:
            args.append(f"--compress={compress}")
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=db.environment()
        )
        assert process.stdout is not None
        assert process.stderr is not None
        errors = _Tail(process.stderr)

        def dump_succeeded() -> None:
            code = process.wait()
            if code != 0:
                raise BackupError(f"pg_dump of {db.name!r} failed (exit {code}): {errors.last()}")

        report = progress(f"backup {store.url(key)}", None)
        try:
            size, sha256 = store.upload_stream(
                key,
                process.stdout,
                part_size,
                metadata={"database": db.name, "created": started_at.isoformat(), "tool": "websys backup"},
                on_progress=report.advance,
                before_complete=dump_succeeded,
            )
        finally:
            report.close()
            if process.poll() is None:
                process.kill()
                process.wait()
        counts = row_counts(connection)
    manifest = Manifest(
        key=key,
        database=db.name,
        created=started_at.isoformat(),
        size=size,
        sha256=sha256,
        encoding=str(encoding),
        server_version=str(server_version),
        pg_dump_version=_pg_dump_version(pg_dump),
        duration_seconds=round(time.monotonic() - started, 3),
        row_counts=counts,
    )
    store.write_manifest(manifest)
    return manifest


def _one(connection: psycopg.Connection[Any], query: str) -> tuple[Any, ...]:
    row = connection.execute(query).fetchone()
    if row is None:
        raise BackupError(f"no answer to {query!r}")
    return tuple(row)


# Restore and verify


def resolve(store: BackupStore, db: Database, key: str | None, latest: bool) -> Manifest:
    if key and latest:
        raise BackupError("give either --key or --latest, not both", EXIT_BAD_INPUT)
    if key:
        return store.read_manifest(key)
    if not latest:
        raise BackupError("say which backup: --key KEY (see --list) or --latest", EXIT_BAD_INPUT)
    backups = store.list_backups(db.name)
    if not backups:
        raise BackupError(f"s3://{store.bucket}/{store.prefix}/{db.name}/: no backups", EXIT_BAD_INPUT)
    return backups[0]


@dataclass
class _Streamed:
    size: int
    sha256: str
    restore_code: int
    restore_error: str
    toc: list[str]


def _stream_restore(
    db: Database,
    store: BackupStore,
    manifest: Manifest,
    target: str,
    progress: ReporterFactory,
    want_toc: bool,
    role: str | None,
) -> _Streamed:
    """Stream the object into pg_restore (and `pg_restore --list` for the TOC), hashing as it passes."""
    pg_restore = find_binary("pg_restore")
    env = db.environment(target)
    args = [pg_restore, "--dbname", target, "--no-owner", "--no-privileges", "--exit-on-error"]
    if role:
        args.append(f"--role={role}")  # objects belong to the database's owner, not to whoever restores
    restore = _Sink(args, env)
    lister = _Sink([pg_restore, "--list"], env, capture_stdout=True) if want_toc else None
    sinks = [restore] + ([lister] if lister else [])
    digest, size = hashlib.sha256(), 0
    report = progress(f"restore {store.url(manifest.key)}", manifest.size)
    try:
        for chunk in store.iter_object(manifest.key):
            size += len(chunk)
            if size > manifest.size:
                break  # longer than recorded: corrupted; no need to read on
            digest.update(chunk)
            for sink in sinks:
                sink.write(chunk)
            report.advance(len(chunk))
        code = restore.finish()
        toc: list[str] = []
        if lister is not None:
            lister.finish(timeout=60)
            toc = lister.stdout.join() if lister.stdout else []
    finally:
        report.close()
        for sink in sinks:
            sink.kill()
    return _Streamed(size, digest.hexdigest(), code, restore.stderr.last() if code else "", toc)


def _integrity_problem(store: BackupStore, manifest: Manifest, streamed: _Streamed) -> str | None:
    where = store.url(manifest.key)
    if streamed.size < manifest.size:
        return f"{where}: truncated: {streamed.size} of {manifest.size} bytes"
    if streamed.size > manifest.size:
        return f"{where}: larger than the {manifest.size} bytes recorded in its manifest"
    if streamed.sha256 != manifest.sha256:
        return (
            f"{where}: sha256 mismatch (corrupted or tampered): "
            f"manifest {manifest.sha256[:16]}..., object {streamed.sha256[:16]}..."
        )
    return None


def _restore_into_new(
    db: Database, store: BackupStore, manifest: Manifest, target: str, progress: ReporterFactory, want_toc: bool
) -> _Streamed:
    """Create `target`, restore into it, and drop it again unless everything checked out.

    The new database and everything in it belong to the owner of the `--database-url` database
    (the application's role), even when an administrator restores, so the application keeps its
    rights after `--replace`.
    """
    with db.maintenance() as admin:
        if database_exists(admin, target):
            raise BackupError(
                f"database {target!r} already exists: restore into a new database (--target-db) or use --replace",
                EXIT_BAD_INPUT,
            )
        owner = database_owner(admin, db.name)
        role = owner if owner != current_role(admin) else None
        create_database(admin, target, manifest.encoding, owner)
    keep = False
    try:
        streamed = _stream_restore(db, store, manifest, target, progress, want_toc, role)
        problem = _integrity_problem(store, manifest, streamed)
        if problem:
            raise BackupError(f"{problem}; refused, nothing was changed")
        if streamed.restore_code != 0:
            raise BackupError(
                f"pg_restore of {store.url(manifest.key)} failed (exit {streamed.restore_code}): "
                f"{streamed.restore_error}; nothing was changed"
            )
        keep = True
        return streamed
    finally:
        if not keep:
            with db.maintenance() as admin:
                drop_database(admin, target)


def restore(
    db: Database,
    store: BackupStore,
    manifest: Manifest,
    progress: ReporterFactory,
    target_db: str | None = None,
    replace: bool = False,
) -> str:
    """Restore `manifest`'s backup; returns what now holds it."""
    stamp = _now().strftime("%Y%m%d%H%M%S")
    if replace and target_db:
        raise BackupError(
            "--replace restores in place of the --database-url database: drop --target-db", EXIT_BAD_INPUT
        )
    if replace:
        with db.maintenance() as admin:
            if not database_exists(admin, db.name):
                raise BackupError(f"--replace: database {db.name!r} does not exist", EXIT_BAD_INPUT)
        incoming = _derived_name(db.name, f"incoming_{stamp}")
        _restore_into_new(db, store, manifest, incoming, progress, want_toc=False)
        kept = _derived_name(db.name, f"before_{stamp}")
        try:
            with db.maintenance() as admin:
                swap_databases(admin, db.name, incoming, kept)
        except psycopg.Error as error:
            reason = " ".join(str(error).split())
            raise BackupError(
                f"restored into {incoming!r}, but could not swap it in for {db.name!r} ({reason}); "
                f"{db.name!r} is unchanged"
            ) from None
        log(f"restore: {db.name!r} replaced; the previous database is kept as {kept!r} (connections disabled)")
        return db.name
    target = target_db or _derived_name(db.name, f"restored_{stamp}")
    _restore_into_new(db, store, manifest, target, progress, want_toc=False)
    return target


@dataclass(frozen=True)
class Verification:
    manifest: Manifest
    tables: int
    rows: int


def verify(db: Database, store: BackupStore, manifest: Manifest, progress: ReporterFactory) -> Verification:
    """Restore into a scratch database, compare with the TOC and the recorded row counts, drop it."""
    scratch = _derived_name(db.name, f"verify_{_now().strftime('%Y%m%d%H%M%S')}")
    streamed = _restore_into_new(db, store, manifest, scratch, progress, want_toc=True)
    try:
        with db.connect(scratch) as connection:
            restored = row_counts(connection)
    finally:
        with db.maintenance() as admin:
            drop_database(admin, scratch)
    in_toc = {f"{m.group(1)}.{m.group(2)}" for line in streamed.toc if (m := _TABLE_DATA.match(line))}
    recorded = manifest.row_counts
    problems: list[str] = []
    problems += [f"{name}: recorded at backup time but not in the dump" for name in sorted(set(recorded) - in_toc)]
    problems += [f"{name}: in the dump but not recorded at backup time" for name in sorted(in_toc - set(recorded))]
    for name, expected in sorted(recorded.items()):
        got = restored.get(name)
        if got is None:
            problems.append(f"{name}: missing after restore")
        elif got != expected:
            problems.append(f"{name}: {got} rows restored, {expected} recorded")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BackupError(f"{store.url(manifest.key)}: verification failed: {problems[0]}{more}", EXIT_FAILED)
    return Verification(manifest, tables=len(recorded), rows=sum(recorded.values()))
