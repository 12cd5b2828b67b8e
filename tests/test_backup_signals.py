"""SIGTERM (what `docker stop` sends), SIGINT and SIGKILL at several points of a backup, a restore
and a drill; and PostgreSQL dying mid-dump. Real PostgreSQL 15 and moto's S3 server.

Whatever stops a run, nothing it leaves may look complete: no listed backup without its whole
dump, no database under its final name before it was restored and verified; and what a SIGKILL
leaves (an unfinished multipart upload, a marked scratch database) is reported or expires.
"""

# ruff: noqa: F401, F811 (pytest fixtures, imported from tests/test_backup_restore.py, are parameters by name)
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.live_servers import MotoServer, PostgresServer, running_postgres
from tests.planning import WEBSYS
from tests.test_backup_restore import (
    CLIENT_ENV,
    bucket,
    fingerprint,
    make_backup,
    moto,
    pg,
    s3_args,
    s3_client,
    websys,
)
from websys.plan import PROJECT_DIR

pytestmark = pytest.mark.timeout(600)
MB = 1_000_000


def fill(pg: PostgresServer, name: str, megabytes: int) -> None:
    """Random rows: enough that a dump and a restore take seconds, so a signal lands mid-way."""
    pg.create_database(name)
    with pg.connect(name) as connection:
        connection.execute("CREATE TABLE events (id bigint PRIMARY KEY, payload text)")
        connection.execute(
            "INSERT INTO events SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) "  # noqa: S608
            f"FROM generate_series(1, {megabytes * MB // 140}) g"
        )


@pytest.fixture(scope="module")
def big_db(pg: PostgresServer) -> str:
    name = f"big_{uuid.uuid4().hex[:8]}"
    fill(pg, name, 60)
    return name


def start(*args: str) -> subprocess.Popen[str]:
    # PYTHONFAULTHANDLER: a run that does not end in time is sent SIGABRT (finish), which makes
    # Python print every thread's stack on stderr: where it hung, instead of a bare timeout.
    return subprocess.Popen(
        [*WEBSYS, *args],
        cwd=PROJECT_DIR,
        env={**os.environ, **CLIENT_ENV, "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float) -> str:
    """The run's stderr once it exits; one that is still running after `timeout` seconds fails the
    test with its threads' stacks (and is gone: it cannot touch the next test's databases)."""
    try:
        return process.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        try:
            stderr = process.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            process.kill()
            stderr = process.communicate()[1]
        raise AssertionError(f"still running {timeout:.0f}s after the signal; its stacks:\n{stderr[-6000:]}") from None


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"finished before {what}: {process.communicate()}")
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout}s")


def child_processes(pid: int, name: str) -> list[int]:
    """The ids of `pid`'s children running the program `name` (from /proc)."""
    children = [
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    ]
    return [child for child in children if Path(f"/proc/{child}/comm").read_text().strip() == name]


def uploads(moto: MotoServer, bucket: str) -> list[dict[str, Any]]:
    return list(s3_client(moto).list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def parts(moto: MotoServer, bucket: str) -> int:
    s3 = s3_client(moto)
    return sum(
        len(s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", []))
        for u in uploads(moto, bucket)
    )


def objects(moto: MotoServer, bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client(moto).list_objects_v2(Bucket=bucket).get("Contents", [])]


def scratch_databases(pg: PostgresServer, database: str) -> set[str]:
    return {name for name in pg.databases() if name.startswith(f"{database}_") and name != database}


def websys_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("websys: ")]


def children(process: subprocess.Popen[str]) -> list[str]:
    """The commands of the process's children (pg_dump, pg_restore)."""
    with contextlib.suppress(OSError):
        pids = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        return [Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids]
    return []


BACKUP_POINTS = {
    "pg_dump started": lambda process, moto, bucket: "pg_dump" in children(process),
    "upload started": lambda process, moto, bucket: bool(uploads(moto, bucket)),
    "parts uploaded": lambda process, moto, bucket: parts(moto, bucket) >= 2,
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("point", list(BACKUP_POINTS))
def test_sigterm_or_sigint_to_backup_aborts_the_upload_with_one_line(
    pg: PostgresServer, moto: MotoServer, bucket: str, big_db: str, sig: signal.Signals, point: str
) -> None:
    process = start("backup", *s3_args(moto, bucket, pg, big_db), "--compress", "0", "--part-size-mb", "5")
    wait_for(lambda: BACKUP_POINTS[point](process, moto, bucket), process, point)
    process.send_signal(sig)
    stderr = finish(process, 60)
    assert process.returncode == 128 + sig, stderr
    assert websys_lines(stderr) == [
        f"websys: interrupted by {sig.name}: the multipart upload was aborted; no backup was written"
    ], stderr
    assert "done" not in stderr
    assert "Traceback" not in stderr
    assert uploads(moto, bucket) == []
    assert objects(moto, bucket) == []


@pytest.mark.parametrize("point", ["upload started", "parts uploaded"])
def test_sigkill_to_backup_leaves_nothing_listed(
    pg: PostgresServer, moto: MotoServer, bucket: str, big_db: str, point: str
) -> None:
    process = start("backup", *s3_args(moto, bucket, pg, big_db), "--compress", "0", "--part-size-mb", "5")
    wait_for(lambda: BACKUP_POINTS[point](process, moto, bucket), process, point)
    process.kill()
    finish(process, 30)
    # The unfinished multipart upload is what the bucket's lifecycle rule aborts; nothing is listed.
    assert objects(moto, bucket) == []
    listed = websys("backup", *s3_args(moto, bucket, pg, big_db), "--list")
    assert (listed.returncode, listed.stdout) == (0, "")
    key = make_backup(moto, bucket, pg, big_db)  # and the next run is unaffected
    assert websys("backup", *s3_args(moto, bucket, pg, big_db), "--list").stdout.split()[0] == key


def restore_points(pg: PostgresServer, database: str) -> dict[str, Callable[[], bool]]:
    def copying() -> bool:
        with pg.connect() as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s AND query LIKE 'COPY%%'",
                [f"{database}\\_%"],
            ).fetchone()
        return bool(row and row[0])

    there = scratch_databases(pg, database)  # left by an earlier run: not this run's
    return {"scratch created": lambda: bool(scratch_databases(pg, database) - there), "rows streaming": copying}


@pytest.mark.parametrize("command", ["restore", "verify-backup"])
@pytest.mark.parametrize("point", ["scratch created", "rows streaming"])
def test_sigterm_to_restore_or_drill_drops_the_incomplete_database(
    pg: PostgresServer, moto: MotoServer, bucket: str, big_db: str, command: str, point: str
) -> None:
    make_backup(moto, bucket, pg, big_db)
    before = pg.databases()
    target = ["--latest", "--target-db", f"{big_db}_final"] if command == "restore" else []
    points = restore_points(pg, big_db)  # before the run starts: what it creates is new
    process = start(command, *s3_args(moto, bucket, pg, big_db), *target)
    wait_for(points[point], process, point)
    process.send_signal(signal.SIGTERM)
    stderr = finish(process, 60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    lines = websys_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("websys: interrupted by SIGTERM: the ")
    assert "done" not in stderr
    assert pg.databases() == before  # the scratch database is gone and no target was made


def test_sigkill_to_restore_leaves_a_marked_database_that_the_next_run_reports(
    pg: PostgresServer, moto: MotoServer, bucket: str, big_db: str
) -> None:
    make_backup(moto, bucket, pg, big_db)
    final = f"{big_db}_final"
    points = restore_points(pg, big_db)
    process = start("restore", *s3_args(moto, bucket, pg, big_db), "--latest", "--target-db", final)
    wait_for(points["rows streaming"], process, "rows streaming")
    process.kill()
    finish(process, 30)
    left = scratch_databases(pg, big_db)
    assert final not in pg.databases()  # nothing under the final name: it never looks finished
    assert len(left) == 1
    (scratch,) = left
    assert "_incomplete_" in scratch
    with pg.connect() as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [scratch]
        ).fetchone()
    assert row is not None
    assert str(row[0]).startswith(f"websys: incomplete: restore of '{big_db}' from s3://{bucket}/")
    again = websys("restore", *s3_args(moto, bucket, pg, big_db), "--latest", "--target-db", final)
    assert again.returncode == 0, again.stderr
    assert f"warning: database '{scratch}' is left over and INCOMPLETE" in again.stderr
    drill = websys("verify-backup", *s3_args(moto, bucket, pg, big_db))
    assert f"warning: database '{scratch}' is left over and INCOMPLETE" in drill.stderr
    assert fingerprint(pg, final) == fingerprint(pg, big_db)


def test_postgresql_dying_mid_dump_is_one_line_naming_the_cause(moto: MotoServer, bucket: str) -> None:
    with running_postgres() as server:
        fill(server, "doomed", 60)
        process = start("backup", *s3_args(moto, bucket, server, "doomed"), "--compress", "0", "--part-size-mb", "5")
        wait_for(lambda: parts(moto, bucket) >= 1, process, "a part uploaded")
        # pg_dump is held still while PostgreSQL dies, so the dump cannot finish first however fast
        # it runs: it resumes with tens of MB unread, which its dead connection never delivers.
        (dump,) = child_processes(process.pid, "pg_dump")
        os.kill(dump, signal.SIGSTOP)
        try:
            server.stop()  # an immediate shutdown: every backend ends at once
        finally:
            os.kill(dump, signal.SIGCONT)
        stderr = finish(process, 120)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "done" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    (line,) = websys_lines(stderr)
    assert line.startswith("websys: pg_dump of 'doomed' failed (exit 1): ")
    assert "terminating connection" in line or "server closed the connection" in line, line
    assert "The command was" not in line
    assert uploads(moto, bucket) == []
    assert objects(moto, bucket) == []
