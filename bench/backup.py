"""5. Backup and restore throughput and memory, against PostgreSQL 15 and moto's S3 server on loopback.

The data: random numbers, hex digests and words from a small vocabulary, so that pg_dump's default
compression gets about 3:1 (pgbench's blank filler compresses 50:1, and then fixed costs dominate).

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

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

from bench.common import WEBSYS, Result, alternate, median, rounded, run_timed
from tests.live_servers import PASSWORD, PG_BINDIR, MotoServer, PostgresServer, running_moto, running_postgres

NAME = "backup-restore"
SPEED_TARGET = 0.9
FLAT_TARGET = 1.25
MB = 1_000_000
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


_WORDS = (
    *("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo"),
    *("lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform"),
    *("victor", "whiskey", "xray", "yankee", "zulu", "north", "south", "east", "west", "red", "green"),
)
_ROW_BYTES = 185  # on disk, heap and index, per row of the table below (measured)


def random_database(pg: PostgresServer, name: str, megabytes: int) -> int:
    """A database of about `megabytes` MB of random rows; returns its size in bytes."""
    pg.create_database(name)
    words = "ARRAY[" + ",".join(f"'{word}'" for word in _WORDS) + "]"
    word = f"({words})[1 + floor(random() * {len(_WORDS)})::int]"
    rows = megabytes * MB // _ROW_BYTES
    with pg.connect(name) as connection:
        connection.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12, 2), quantity int, "
            "code text, note text, placed timestamptz)"
        )
        batch = 500_000
        for start in range(0, rows, batch):
            end = min(rows, start + batch)
            connection.execute(
                f"INSERT INTO orders SELECT g, round((random() * 100000)::numeric, 2), (random() * 1000)::int, "  # noqa: S608 bench data
                f"md5(random()::text), {word} || ' ' || {word} || ' ' || {word} || ' ' || (random() * 1e6)::int, "
                f"now() - random() * interval '900 days' FROM generate_series({start + 1}, {end}) g"
            )
        connection.execute("VACUUM ANALYZE orders")
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


class Bench:
    def __init__(self, pg: PostgresServer, moto: MotoServer, workdir: Path) -> None:
        self.pg, self.moto, self.workdir = pg, moto, workdir
        self.bucket = f"bench-{uuid.uuid4().hex[:12]}"
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", **_keys())
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.env = {
            **os.environ,
            **S3_ENV,
            "WEBSYS_PG_BINDIR": str(PG_BINDIR),
            "WEBSYS_BACKUP_MANIFEST_KEY": uuid.uuid4().hex,  # a throwaway signing key
        }
        self.pg_env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(pg.port),
            "PGUSER": "postgres",
            "PGPASSWORD": PASSWORD,
        }
        self.restores = 0
        self.s3 = s3

    def count_seconds(self, database: str) -> float:
        """What the manifest's exact row counts cost, recorded by the newest backup (they run beside the dump)."""
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"bench/{database}/")
        newest = max(item["Key"] for item in listing["Contents"] if item["Key"].endswith(".manifest.json"))
        return float(json.loads(self.s3.get_object(Bucket=self.bucket, Key=newest)["Body"].read())["count_seconds"])

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


def run(runs: int, large_mb: int, small_mb: int) -> Result:
    with (
        running_postgres() as pg,
        running_moto() as moto,
        tempfile.TemporaryDirectory(prefix="websys-bench-dump-") as work,
    ):
        bench = Bench(pg, moto, Path(work))
        large_bytes = random_database(pg, "bench_large", large_mb)
        small_bytes = random_database(pg, "bench_small", small_mb)
        backup = _paired(lambda: bench.pg_dump("bench_large"), lambda: bench.websys_backup("bench_large"), runs)
        count_seconds = bench.count_seconds("bench_large")
        dump = Path(work) / "large.dump"
        bench.pg_dump("bench_large", str(dump))
        dump_bytes = dump.stat().st_size
        restore = _paired(lambda: bench.pg_restore(dump), lambda: bench.websys_restore("bench_large"), runs)
        small = _paired(lambda: bench.pg_dump("bench_small"), lambda: bench.websys_backup("bench_small"), runs)
    backup_speed = median(backup["floor_s"]) / median(backup["subject_s"])
    restore_speed = median(restore["floor_s"]) / median(restore["subject_s"])
    large_rss = median(backup["subject_rss_mb"])
    small_rss = median(small["subject_rss_mb"])
    growth = large_rss / small_rss
    met = backup_speed >= SPEED_TARGET and restore_speed >= SPEED_TARGET and growth <= FLAT_TARGET
    ratio = large_bytes / dump_bytes
    return Result(
        name=NAME,
        title=f"Backup and restore ({large_bytes / MB:.0f} MB of random rows, dump {dump_bytes / MB:.0f} MB)",
        measure="backup speed vs pg_dump floor (median time ratio floor/subject)",
        value=backup_speed,
        target=f"backup and restore >= {SPEED_TARGET}x floor speed; backup RSS growth <= {FLAT_TARGET}x",
        met=met,
        summary=(
            f"{large_bytes / MB:.0f} MB database, {ratio:.1f}:1 to its dump; "
            f"backup {backup_speed:.2f}x pg_dump ({median(backup['subject_s']):.1f} s vs "
            f"{median(backup['floor_s']):.1f} s, peak RSS {large_rss:.0f} vs "
            f"{median(backup['floor_rss_mb']):.0f} MB; row counts {count_seconds:.1f} s beside the dump); "
            f"restore {restore_speed:.2f}x pg_restore ({median(restore['subject_s']):.1f} s vs "
            f"{median(restore['floor_s']):.1f} s, peak RSS {median(restore['subject_rss_mb']):.0f} vs "
            f"{median(restore['floor_rss_mb']):.0f} MB); backup peak RSS {small_rss:.0f} MB at "
            f"{small_bytes / MB:.0f} MB -> {large_rss:.0f} MB at {large_bytes / MB:.0f} MB ({growth:.2f}x)"
        ),
        details={
            "runs": runs,
            "database_bytes": large_bytes,
            "dump_bytes": dump_bytes,
            "database_to_dump_ratio": round(ratio, 2),
            "small_database_bytes": small_bytes,
            "backup": _summary(backup),
            "backup_row_count_seconds": count_seconds,
            "restore": {**_summary(restore), "restore_speed_ratio": round(restore_speed, 3)},
            "backup_small": _summary(small),
            "backup_rss_growth": round(growth, 3),
        },
    )
