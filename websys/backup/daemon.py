"""The backup job's long-running mode: backups and restore drills on cron schedules, and their metrics.

Prometheus scrapes `/metrics`; an alert on `time() - websys_backup_last_success_timestamp_seconds`
catches every way a backup can stop happening (job down, dump failing, bucket refusing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from websys.backup.progress import log
from websys.backup.schedule import Cron


@dataclass
class JobState:
    """What the metrics report; updated by the scheduler thread, read by the HTTP server."""

    database: str
    last_success: float = 0.0
    last_failure: float = 0.0
    last_size_bytes: int = 0
    last_duration_seconds: float = 0.0
    runs: int = 0
    failures: int = 0
    verify_last_success: float = 0.0
    verify_last_failure: float = 0.0
    started: float = field(default_factory=time.time)
    verify_runs: int = 0
    verify_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("websys_backup_last_success_timestamp_seconds", "gauge", "last_success", "End of the last successful backup."),
    ("websys_backup_last_failure_timestamp_seconds", "gauge", "last_failure", "End of the last failed backup."),
    ("websys_backup_last_size_bytes", "gauge", "last_size_bytes", "Size of the last successful backup."),
    (
        "websys_backup_last_duration_seconds",
        "gauge",
        "last_duration_seconds",
        "Duration of the last successful backup.",
    ),
    ("websys_backup_runs_total", "counter", "runs", "Backups attempted."),
    ("websys_backup_failures_total", "counter", "failures", "Backups that failed."),
    (
        "websys_backup_verify_last_success_timestamp_seconds",
        "gauge",
        "verify_last_success",
        "End of the last successful restore drill (verify-backup).",
    ),
    (
        "websys_backup_verify_last_failure_timestamp_seconds",
        "gauge",
        "verify_last_failure",
        "End of the last failed restore drill.",
    ),
    ("websys_backup_started_timestamp_seconds", "gauge", "started", "When the backup job started."),
    ("websys_backup_verify_runs_total", "counter", "verify_runs", "Restore drills attempted."),
    ("websys_backup_verify_failures_total", "counter", "verify_failures", "Restore drills that failed."),
)


def _number(value: float) -> str:
    """Exact: integers as integers, floats with all their digits (no `:g` rounding of timestamps)."""
    return str(value) if isinstance(value, int) else repr(float(value))


def render_metrics(state: JobState) -> str:
    """Prometheus' text exposition format (0.0.4)."""
    label = '{database="' + state.database.replace("\\", "\\\\").replace('"', '\\"') + '"}'
    lines: list[str] = []
    with state.lock:
        for name, kind, attribute, help_text in _METRICS:
            value = getattr(state, attribute)
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{label} {_number(value)}"]
    return "\n".join(lines) + "\n"


def serve_metrics(state: JobState, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104 scraped over the data network
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = render_metrics(state).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass(frozen=True)
class Job:
    name: str
    cron: Cron
    run: Callable[[JobState], None]


def run_backup_job(state: JobState, do_backup: Callable[[], tuple[int, float]]) -> None:
    """One scheduled backup: `do_backup` returns (size, duration); failures are counted, not raised."""
    with state.lock:
        state.runs += 1
    try:
        size, duration = do_backup()
    except Exception as error:  # noqa: BLE001 every failure counts, whatever raised it
        log(f"backup failed: {error}")
        with state.lock:
            state.failures += 1
            state.last_failure = time.time()
        return
    with state.lock:
        state.last_success = time.time()
        state.last_size_bytes = size
        state.last_duration_seconds = duration


def run_verify_job(state: JobState, do_verify: Callable[[], None]) -> None:
    with state.lock:
        state.verify_runs += 1
    try:
        do_verify()
    except Exception as error:  # noqa: BLE001 every failure counts, whatever raised it
        log(f"verify-backup failed: {error}")
        with state.lock:
            state.verify_failures += 1
            state.verify_last_failure = time.time()
        return
    with state.lock:
        state.verify_last_success = time.time()


def run_forever(state: JobState, jobs: list[Job], sleep: Callable[[float], None] = time.sleep) -> None:
    """Run each job at its next scheduled minute, one at a time, forever."""
    due = {job.name: job.cron.next_after(datetime.now(UTC)) for job in jobs}
    while True:
        job = min(jobs, key=lambda j: due[j.name])
        log(f"next: {job.name} at {due[job.name].isoformat()}")
        wait = (due[job.name] - datetime.now(UTC)).total_seconds()
        if wait > 0:
            sleep(wait)
        try:
            job.run(state)
        except Exception as error:  # noqa: BLE001 a scheduler must survive any one run
            log(f"{job.name}: unexpected error: {type(error).__name__}: {error}")
        # Never the same slot twice (a clock running early), and slots missed by a long run are skipped.
        due[job.name] = job.cron.next_after(max(datetime.now(UTC), due[job.name]))
