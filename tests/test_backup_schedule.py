"""The backup job's schedule and metrics: cron evaluation, the exposition format (checked by promtool),
and `websys backup --schedule` serving them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from tests.live_servers import free_port
from tests.planning import WEBSYS
from websys.backup import daemon
from websys.backup.errors import BackupError
from websys.backup.schedule import CronError, parse_cron
from websys.plan import PROJECT_DIR

pytestmark = pytest.mark.live

NOW = datetime(2026, 11, 30, 13, 22, 45, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 3 * * *", datetime(2026, 12, 1, 3, 0, tzinfo=UTC)),
        ("30 4 * * 0", datetime(2026, 12, 6, 4, 30, tzinfo=UTC)),  # the next Sunday
        ("*/15 * * * *", datetime(2026, 11, 30, 13, 30, tzinfo=UTC)),
        ("22 13 * * *", datetime(2026, 12, 1, 13, 22, tzinfo=UTC)),  # strictly after now
        ("0 0 1 * 1", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),  # day 1 OR a Monday, as cron does
        ("0 12 29 2 *", datetime(2028, 2, 29, 12, 0, tzinfo=UTC)),
        ("5 1-3/2 * 12 7", datetime(2026, 12, 6, 1, 5, tzinfo=UTC)),  # 7 is Sunday too
    ],
)
def test_next_run(expression: str, expected: datetime) -> None:
    assert parse_cron(expression).next_after(NOW) == expected


@pytest.mark.parametrize(
    "expression", ["", "0 3 * *", "60 * * * *", "* 24 * * *", "0 0 31 2 *", "*/0 * * * *", "a * * * *"]
)
def test_bad_cron_is_refused(expression: str) -> None:
    with pytest.raises(CronError):
        parse_cron(expression)


def test_metrics_after_a_success_and_a_failure_pass_promtool() -> None:
    state = daemon.JobState(database='websys_db_"prod"')
    daemon.run_backup_job(state, lambda: (123_456_789, 42.5))
    succeeded = state.last_success

    def failing() -> tuple[int, float]:
        raise BackupError("pg_dump failed")

    daemon.run_backup_job(state, failing)
    daemon.run_verify_job(state, lambda: None)
    text = daemon.render_metrics(state)
    label = '{database="websys_db_\\"prod\\""}'
    assert f"websys_backup_last_success_timestamp_seconds{label} {succeeded!r}" in text
    assert f"websys_backup_last_size_bytes{label} 1.23457e+08" not in text  # sizes are exact
    assert f"websys_backup_last_size_bytes{label} 123456789" in text
    assert f"websys_backup_last_duration_seconds{label} 42.5" in text
    assert f"websys_backup_runs_total{label} 2" in text
    assert f"websys_backup_failures_total{label} 1" in text
    assert f"websys_backup_verify_runs_total{label} 1" in text
    promtool = shutil.which("promtool")
    assert promtool is not None
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_scheduled_jobs_run_in_order_and_survive_failures() -> None:
    class Stop(BaseException):
        pass

    ran: list[str] = []

    def sleep(seconds: float) -> None:
        if len(ran) >= 3:
            raise Stop

    def broken(state: daemon.JobState) -> None:
        ran.append("verify")
        raise RuntimeError("boom")  # logged; the scheduler goes on

    jobs = [
        daemon.Job("backup", parse_cron("* * * * *"), lambda state: ran.append("backup")),
        daemon.Job("verify", parse_cron("* * * * *"), broken),
    ]
    with pytest.raises(Stop):
        daemon.run_forever(daemon.JobState(database="db"), jobs, sleep=sleep)
    assert ran[:3] in (["backup", "verify", "backup"], ["backup", "verify", "verify"])


def test_websys_backup_schedule_serves_metrics() -> None:
    port = free_port()
    args = [
        *WEBSYS, "backup", "--database-url", "postgresql://websys@127.0.0.1:1/websys_db_dev",
        "--bucket", "websys-backups",
        "--schedule", "0 3 * * *", "--verify-schedule", "30 4 * * 0", "--metrics-port", str(port),
    ]  # fmt: skip
    env = {**os.environ, "WEBSYS_BACKUP_MANIFEST_KEY": "a-test-manifest-key-of-32-bytes!"}
    process = subprocess.Popen(
        args, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline, body = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.2)
        assert 'websys_backup_last_success_timestamp_seconds{database="websys_db_dev"} 0' in body
        assert process.poll() is None  # waiting for 03:00 UTC
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "next: backup at " in stderr
    # `docker stop` sends SIGTERM: one line, the signal's exit status, no traceback.
    assert process.returncode == 128 + signal.SIGTERM
    assert [line for line in stderr.splitlines() if line.startswith("websys: ")] == [
        "websys: interrupted by SIGTERM: stopped; any upload in progress aborted, any incomplete database dropped"
    ]
