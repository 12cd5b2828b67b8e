"""Backup, restore and verify: PostgreSQL's own client tools, streamed to and from the bucket.

Backup: a REPEATABLE READ transaction exports its snapshot; `pg_dump --snapshot` dumps exactly what
that transaction sees, and a second connection in the same snapshot counts every table's rows for
the manifest while the dump streams (so the counts cost no time of their own on an idle server).
pg_dump's stdout goes straight into a multipart upload (two parts in memory, no temporary file).

Restore and verify never write into an existing database: they build a new one, marked incomplete
by its name and its comment, stream the object into `pg_restore` while hashing it, and only if the
size and sha256 match the signed manifest and pg_restore succeeded is it renamed to its final name
(or swapped in for the live database with `--replace`). Otherwise, or when interrupted, it is
dropped; after a SIGKILL it stays, marked, and the next run reports it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import secrets
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import psycopg

from websys.backup import signals
from websys.backup.errors import EXIT_BAD_INPUT, EXIT_FAILED, BackupError
from websys.backup.pg import (
    Database,
    can_act_as,
    can_replace,
    create_database,
    current_role,
    database_exists,
    database_owner,
    drop_database,
    find_binary,
    leftover_databases,
    rename_complete,
    row_counts,
    swap_databases,
)
from websys.backup.progress import Reporter, log
from websys.backup.store import MIB, BackupStore, Manifest, new_key

ReporterFactory = Callable[[str, int | None], Reporter]
PIPE_BYTES = MIB  # Linux's default pipe-max-size: fewer, larger reads and writes than the 64 KiB default


def _widen_pipe(pipe: IO[bytes] | None) -> None:
    if pipe is not None:
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def summarize_pg_error(lines: Sequence[str]) -> str:
    """pg_dump's and pg_restore's stderr as one line that names the cause: their `error:` lines
    (the server's own message among them), without the `detail: The command was: COPY ...` echo."""
    kept: list[str] = []
    for line in lines:
        text = line.strip()
        for tool in ("pg_dump: ", "pg_restore: "):
            text = text.removeprefix(tool)
        if text.startswith(("detail: The command was", "warning: errors ignored", "Command was:")):
            continue
        text = text.removeprefix("error: ").removeprefix("error: ")
        if text and text not in kept:
            kept.append(text)
    return "; ".join(kept)[:600] or "no message"


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

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        assert self.process.stdin is not None
        assert self.process.stderr is not None
        _widen_pipe(self.process.stdin)
        self.stdin = self.process.stdin
        self.stderr = _Tail(self.process.stderr)
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


def _stamp() -> str:
    """For scratch database names: the time, and a random part so that two runs never share one."""
    return f"{_now().strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"


def _derived_name(base: str, suffix: str) -> str:
    """`base_suffix`, shortened to PostgreSQL's 63-byte identifier limit."""
    room = 62 - len(suffix)
    shortened = base.encode()[:room].decode(errors="ignore")
    return f"{shortened}_{suffix}"


def _pg_dump_version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.strip() or "unknown"


def report_leftovers(connection: psycopg.Connection[Any], database: str) -> list[str]:
    """Warn about each database an interrupted restore or drill of `database` left behind."""
    names = []
    for name, comment in leftover_databases(connection, database):
        log(f'warning: database {name!r} is left over and INCOMPLETE ({comment}); drop it: DROP DATABASE "{name}"')
        names.append(name)
    return names


# Backup


class _Counter:
    """Counts every table's rows in the dump's snapshot, on its own connection, while the dump runs."""

    def __init__(self, db: Database, snapshot: str) -> None:
        self.connection = db.connect(autocommit=False)
        self.counts: dict[str, int] | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.connection.read_only = True
        self.connection.execute(psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(psycopg.sql.Literal(snapshot)))
        self.connection.execute("SET LOCAL statement_timeout = 0")  # counting a large table may take long
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self.counts = row_counts(self.connection)
        except BaseException as error:  # noqa: BLE001 told by result()
            self.error = error
        self.seconds = time.monotonic() - started

    def result(self) -> dict[str, int]:
        while self.thread.is_alive():
            self.thread.join(timeout=0.2)
        if self.counts is None:
            reason = " ".join(str(self.error).split()) or type(self.error).__name__
            raise BackupError(f"counting rows failed: {reason}")
        return self.counts

    def close(self) -> None:
        if self.thread.is_alive():
            with contextlib.suppress(psycopg.Error):
                self.connection.cancel()
            self.thread.join(timeout=10)
        with contextlib.suppress(psycopg.Error):
            self.connection.close()


def backup(
    db: Database,
    store: BackupStore,
    progress: ReporterFactory,
    part_size: int = 16 * MIB,
    compress: int | None = None,
) -> Manifest:
    pg_dump = find_binary("pg_dump")
    started_at, started = _now(), time.monotonic()
    key = new_key(store.prefix, db.name, started_at)
    connection = db.connect(autocommit=False)
    counter: _Counter | None = None
    try:
        report_leftovers(connection, db.name)
        connection.rollback()
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
        _widen_pipe(process.stdout)
        errors = _Tail(process.stderr)

        def dump_succeeded() -> None:
            code = process.wait()
            if code != 0:
                raise BackupError(f"pg_dump of {db.name!r} failed (exit {code}): {summarize_pg_error(errors.join())}")

        report = progress(f"backup {store.url(key)}", None)
        ok = False
        try:
            counter = _Counter(db, snapshot)
            size, sha256 = store.upload_stream(
                key,
                process.stdout,
                part_size,
                metadata={"database": db.name, "created": started_at.isoformat(), "tool": "websys backup"},
                on_progress=report.advance,
                before_complete=dump_succeeded,
            )
            counts = counter.result()
            ok = True
        finally:
            report.close(ok)
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        if counter is not None:
            counter.close()
        with contextlib.suppress(psycopg.Error):
            connection.close()
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
        count_seconds=round(counter.seconds, 3),
    )
    store.write_manifest(manifest)  # last: the commit marker of the backup
    return manifest


def _one(connection: psycopg.Connection[Any], query: str) -> tuple[Any, ...]:
    row = connection.execute(query).fetchone()
    if row is None:
        raise BackupError("the database returned no row for its own settings")
    return tuple(row)


# Restore


def resolve(store: BackupStore, db: Database, key: str | None, latest: bool) -> Manifest:
    """The backup to restore, its manifest authenticated; --latest skips (and names) any that fail."""
    if key and latest:
        raise BackupError("give either --key or --latest, not both", EXIT_BAD_INPUT)
    if key:
        return store.read_manifest(key, db.name)
    if not latest:
        raise BackupError("say which backup: --key KEY (see --list) or --latest", EXIT_BAD_INPUT)
    newest = next(store.iter_backups(db.name), None)
    if newest is None:
        raise BackupError(f"s3://{store.bucket}/{store.prefix}/{db.name}/: no usable backups", EXIT_BAD_INPUT)
    return newest


@dataclass
class _Streamed:
    size: int
    sha256: str
    restore_code: int
    restore_error: str


def _stream_restore(
    db: Database, store: BackupStore, manifest: Manifest, target: str, progress: ReporterFactory, role: str | None
) -> _Streamed:
    """Stream the object into pg_restore, hashing it as it passes."""
    pg_restore = find_binary("pg_restore")
    args = [pg_restore, "--dbname", target, "--no-owner", "--no-privileges", "--exit-on-error"]
    if role:
        args.append(f"--role={role}")  # objects belong to the database's owner, not to whoever restores
    restore = _Sink(args, db.environment(target))
    digest, size = hashlib.sha256(), 0
    report = progress(f"restore {store.url(manifest.key)}", manifest.size)
    code = -1
    try:
        for chunk in store.iter_object(manifest.key):
            size += len(chunk)
            if size > manifest.size:
                break  # longer than recorded: corrupted; no need to read on
            digest.update(chunk)
            restore.write(chunk)
            report.advance(len(chunk))
        code = restore.finish()
    finally:
        report.close(code == 0 and size == manifest.size)
        restore.kill()
    error = summarize_pg_error(restore.stderr.join()) if code else ""
    return _Streamed(size, digest.hexdigest(), code, error)


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


def _build(
    db: Database,
    store: BackupStore,
    manifest: Manifest,
    scratch: str,
    progress: ReporterFactory,
    owner: str | None,
    purpose: str,
    finish: Callable[[psycopg.Connection[Any]], None],
    check: Callable[[], None] = lambda: None,
) -> None:
    """Create `scratch` (marked incomplete), restore into it, check it, then `finish` (rename it into
    place, on the maintenance connection). On any failure or interruption `scratch` is dropped."""
    with db.maintenance() as admin:
        create_database(admin, scratch, manifest.encoding, owner, purpose)
    done = False
    try:
        streamed = _stream_restore(db, store, manifest, scratch, progress, owner if owner else None)
        problem = _integrity_problem(store, manifest, streamed)
        if problem:
            raise BackupError(f"{problem}; refused, nothing was changed")
        if streamed.restore_code != 0:
            raise BackupError(
                f"pg_restore of {store.url(manifest.key)} failed (exit {streamed.restore_code}): "
                f"{streamed.restore_error}; nothing was changed"
            )
        check()
        with signals.held(), db.maintenance() as admin:
            finish(admin)
            done = True
    finally:
        if not done:
            with signals.held(), db.maintenance() as admin:
                drop_database(admin, scratch)


def _owner_for(admin: psycopg.Connection[Any], live: str) -> str | None:
    """The live database's owner when the connected role may act for it; else None (the role itself)."""
    owner = database_owner(admin, live)
    if owner == current_role(admin) or not can_act_as(admin, owner):
        return None
    return owner


def restore(
    db: Database,
    store: BackupStore,
    manifest: Manifest,
    progress: ReporterFactory,
    target_db: str | None = None,
    replace: bool = False,
) -> str:
    """Restore `manifest`'s backup; returns what now holds it."""
    if replace and target_db:
        raise BackupError(
            "--replace restores in place of the --database-url database: drop --target-db", EXIT_BAD_INPUT
        )
    stamp = _stamp()
    scratch = _derived_name(db.name, f"incomplete_{stamp}")
    purpose = f"restore of {db.name!r} from {store.url(manifest.key)}, started {_now().isoformat(timespec='seconds')}"
    with db.maintenance() as admin:
        report_leftovers(admin, db.name)
        if replace:
            if not database_exists(admin, db.name):
                raise BackupError(f"--replace: database {db.name!r} does not exist", EXIT_BAD_INPUT)
            if not can_replace(admin, db.name):
                raise BackupError(
                    f"--replace: role {current_role(admin)!r} may not rename database {db.name!r} "
                    "(that takes CREATEDB and membership in its owner's role); restore with --target-db, "
                    "or grant the owner's role for the occasion (docs/backups-drills.md); nothing was changed",
                    EXIT_BAD_INPUT,
                )
        target = db.name if replace else (target_db or _derived_name(db.name, f"restored_{stamp}"))
        if not replace and database_exists(admin, target):
            raise BackupError(
                f"database {target!r} already exists: restore into a new database (--target-db) or use --replace",
                EXIT_BAD_INPUT,
            )
        owner = _owner_for(admin, db.name)
    kept = _derived_name(db.name, f"before_{stamp}")

    def finish(admin: psycopg.Connection[Any]) -> None:
        if not replace:
            rename_complete(admin, scratch, target)
            return
        try:
            swap_databases(admin, db.name, scratch, kept)
        except psycopg.Error as error:
            reason = " ".join(str(error).split())
            raise BackupError(
                f"restored, but could not swap it in for {db.name!r} ({reason}); {db.name!r} is unchanged"
            ) from None

    _build(db, store, manifest, scratch, progress, owner, purpose, finish)
    if replace:
        log(f"restore: {db.name!r} replaced; the previous database is kept as {kept!r} (connections disabled)")
    return target


@dataclass(frozen=True)
class Verification:
    manifest: Manifest
    tables: int
    rows: int


def verify(db: Database, store: BackupStore, manifest: Manifest, progress: ReporterFactory) -> Verification:
    """The restore drill: restore into a scratch database owned by the connected role, compare its
    catalogue and row counts with the manifest's (names of any characters: the catalogue gives them
    whole), and drop it."""
    scratch = _derived_name(db.name, f"drill_{_stamp()}")
    purpose = f"drill of {db.name!r} from {store.url(manifest.key)}, started {_now().isoformat(timespec='seconds')}"
    with db.maintenance() as admin:
        report_leftovers(admin, db.name)
    restored: dict[str, int] = {}

    def count() -> None:
        with db.connect(scratch) as connection:
            restored.update(row_counts(connection))

    def drop(admin: psycopg.Connection[Any]) -> None:
        drop_database(admin, scratch)

    _build(db, store, manifest, scratch, progress, None, purpose, drop, check=count)
    recorded = manifest.row_counts
    problems: list[str] = []
    problems += [
        f"{name}: recorded at backup time but missing after restore" for name in sorted(set(recorded) - set(restored))
    ]
    problems += [f"{name}: restored but not recorded at backup time" for name in sorted(set(restored) - set(recorded))]
    for name, expected in sorted(recorded.items()):
        got = restored.get(name)
        if got is not None and got != expected:
            problems.append(f"{name}: {got} rows restored, {expected} recorded")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BackupError(f"{store.url(manifest.key)}: verification failed: {problems[0]}{more}", EXIT_FAILED)
    return Verification(manifest, tables=len(recorded), rows=sum(recorded.values()))
