"""5. Backup and restore throughput and memory, against PostgreSQL 15 and moto's S3 server on loopback.

- backup: `websys backup` (pg_dump streamed into a multipart upload) against the floor
  `pg_dump --format=custom > /dev/null`; both use pg_dump's default compression.
- restore: `websys restore` (download streamed into pg_restore, sha256 and size verified) against the
  floor `pg_restore --dbname` from a local file (its target database created beforehand, untimed).
- memory: peak RSS (os.wait4's ru_maxrss: the process or its largest waited-for child) of each, and of
  `websys backup` on a small and a large database: flat means the large one needs at most 1.25x.
- the same pair on the small database too, so the per-byte speed (the extra time for the extra data)
  can be told apart from the fixed start-up cost of a Python command (imports of boto3, psycopg).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

from bench.common import WEBSYS, Result, alternate, median, rounded, run_timed
from tests.live_servers import PASSWORD, PG_BINDIR, MotoServer, PostgresServer, running_moto, running_postgres

NAME = "backup-restore"
SPEED_TARGET = 0.8
FLAT_TARGET = 1.25
MB = 1_000_000
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def pgbench_database(pg: PostgresServer, name: str, scale: int) -> int:
    """A database filled by `pgbench -i -s scale`; returns its size in bytes."""
    pg.create_database(name)
    env = {**os.environ, "PGHOST": str(pg.root), "PGPORT": str(pg.port)}
    init = [str(PG_BINDIR / "pgbench"), "-i", "-s", str(scale), "-q", "-U", "postgres", name]
    if os.geteuid() == 0:
        init = ["runuser", "-u", "postgres", "--", *init]  # local socket, trust
    subprocess.run(init, check=True, capture_output=True, timeout=1800, env=env)
    with pg.connect(name) as connection:
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


class Bench:
    def __init__(self, pg: PostgresServer, moto: MotoServer, workdir: Path) -> None:
        self.pg, self.moto, self.workdir = pg, moto, workdir
        self.bucket = f"bench-{uuid.uuid4().hex[:12]}"
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", **_keys())
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.env = {**os.environ, **S3_ENV, "WEBSYS_PG_BINDIR": str(PG_BINDIR)}
        self.pg_env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(pg.port),
            "PGUSER": "postgres",
            "PGPASSWORD": PASSWORD,
        }
        self.restores = 0

    def s3_args(self, database: str) -> list[str]:
        url = self.pg.url(database)
        return ["--database-url", url, "--bucket", self.bucket, "--prefix", "bench", "--endpoint-url", self.moto.url]

    def websys_backup(self, database: str) -> tuple[float, float]:
        done = run_timed([WEBSYS, "backup", *self.s3_args(database)], env=self.env)
        return done.seconds, done.max_rss_mb

    def pg_dump(self, database: str, out: str = "/dev/null") -> tuple[float, float]:
        done = run_timed([str(PG_BINDIR / "pg_dump"), "--format=custom", database], env=self.pg_env, stdout_to=out)
        return done.seconds, done.max_rss_mb

    def _target(self) -> str:
        self.restores += 1
        return f"bench_restore_{self.restores}"

    def _drop(self, name: str) -> None:
        with self.pg.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def websys_restore(self, database: str) -> tuple[float, float]:
        target = self._target()
        done = run_timed([WEBSYS, "restore", *self.s3_args(database), "--latest", "--target-db", target], env=self.env)
        self._drop(target)
        return done.seconds, done.max_rss_mb

    def pg_restore(self, dump: Path) -> tuple[float, float]:
        target = self._target()
        self.pg.create_database(target)
        args = [str(PG_BINDIR / "pg_restore"), "--dbname", target, "--no-owner", "--no-privileges", "--exit-on-error"]
        done = run_timed([*args, str(dump)], env=self.pg_env)
        self._drop(target)
        return done.seconds, done.max_rss_mb


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"]}


def _paired(floor: Any, subject: Any, runs: int) -> dict[str, list[float]]:
    """Alternate floor and subject; keep seconds and peak RSS of each."""
    rss: dict[str, list[float]] = {"floor": [], "subject": []}

    def measure(kind: str, action: Any) -> float:
        seconds, peak = action()
        rss[kind].append(peak)
        return float(seconds)

    floors, subjects = alternate(lambda: measure("floor", floor), lambda: measure("subject", subject), runs)
    return {"floor_s": floors, "subject_s": subjects, "floor_rss_mb": rss["floor"], "subject_rss_mb": rss["subject"]}


def _summary(pair: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "floor_seconds": rounded(pair["floor_s"]),
        "subject_seconds": rounded(pair["subject_s"]),
        "floor_peak_rss_mb": rounded(pair["floor_rss_mb"], 1),
        "subject_peak_rss_mb": rounded(pair["subject_rss_mb"], 1),
        "speed_ratio": round(median(pair["floor_s"]) / median(pair["subject_s"]), 3),
    }


def run(runs: int, scale: int, small_scale: int) -> Result:
    with (
        running_postgres() as pg,
        running_moto() as moto,
        tempfile.TemporaryDirectory(prefix="websys-bench-dump-") as work,
    ):
        bench = Bench(pg, moto, Path(work))
        large_bytes = pgbench_database(pg, "bench_large", scale)
        small_bytes = pgbench_database(pg, "bench_small", small_scale)
        backup = _paired(lambda: bench.pg_dump("bench_large"), lambda: bench.websys_backup("bench_large"), runs)
        dump = Path(work) / "large.dump"
        bench.pg_dump("bench_large", str(dump))
        dump_bytes = dump.stat().st_size
        restore = _paired(lambda: bench.pg_restore(dump), lambda: bench.websys_restore("bench_large"), runs)
        small = _paired(lambda: bench.pg_dump("bench_small"), lambda: bench.websys_backup("bench_small"), runs)
    backup_speed = median(backup["floor_s"]) / median(backup["subject_s"])
    restore_speed = median(restore["floor_s"]) / median(restore["subject_s"])
    # Per byte, without the fixed start-up cost: extra time for the extra data, floor over subject.
    marginal = (median(backup["floor_s"]) - median(small["floor_s"])) / max(
        1e-9, median(backup["subject_s"]) - median(small["subject_s"])
    )
    large_rss = median(backup["subject_rss_mb"])
    small_rss = median(small["subject_rss_mb"])
    growth = large_rss / small_rss
    met = backup_speed >= SPEED_TARGET and restore_speed >= SPEED_TARGET and growth <= FLAT_TARGET
    mb_s = large_bytes / MB / median(backup["subject_s"])
    return Result(
        name=NAME,
        title=f"Backup and restore (pgbench scale {scale}, {large_bytes / MB:.0f} MB)",
        measure="backup speed vs pg_dump floor (median time ratio floor/subject)",
        value=backup_speed,
        target=f"backup and restore >= {SPEED_TARGET}x floor speed; backup RSS growth <= {FLAT_TARGET}x",
        met=met,
        summary=(
            f"backup {backup_speed:.2f}x pg_dump ({median(backup['subject_s']):.1f} s, {mb_s:.0f} MB/s of database), "
            f"{marginal:.2f}x per extra byte (scale {small_scale} to {scale}); "
            f"restore {restore_speed:.2f}x pg_restore ({median(restore['subject_s']):.1f} s); backup peak RSS "
            f"{small_rss:.0f} MB at scale {small_scale} -> {large_rss:.0f} MB at scale {scale} ({growth:.2f}x)"
        ),
        details={
            "runs": runs,
            "scale": scale,
            "database_bytes": large_bytes,
            "dump_bytes": dump_bytes,
            "small_scale": small_scale,
            "small_database_bytes": small_bytes,
            "backup": _summary(backup),
            "restore": {**_summary(restore), "restore_speed_ratio": round(restore_speed, 3)},
            "backup_small_scale": _summary(small),
            "backup_marginal_speed_ratio": round(marginal, 3),
            "backup_rss_growth": round(growth, 3),
        },
    )
