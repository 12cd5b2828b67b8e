"""Shared measurement helpers: timed processes with peak memory, alternating runs, the result record.

Every timed benchmark compares against a floor measured in the same run: floor and subject alternate
(floor, subject, floor, subject, ...) and the result is a ratio of medians, so drift in the machine's
load affects both sides alike.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WEBSYS = str(VENV_BIN / "websys")
PYTHON = sys.executable


@dataclass
class Run:
    """One finished process: wall time, peak resident memory (kernel accounting), exit code, output."""

    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: bytes
    stderr: bytes


GNU_TIME = "/usr/bin/time"  # Debian's `time` package (scripts/install-system-packages.sh)


def run_timed(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdout_to: str | None = None,
    timeout: float = 600,
    check: bool = True,
) -> Run:
    """Run `argv` and return its wall time and peak resident memory.

    Peak memory is the kernel's ru_maxrss (wait4) as GNU time reports it for its child: the largest of
    the process and its waited-for children (pg_dump inside `websys backup` counts if it was larger).
    Not this process's own wait4: Linux carries a parent's RSS high-water mark across fork and exec,
    so a child of this (large) Python process would report at least the parent's size; GNU time's
    child is forked from a process of about 2 MB. Output goes to temporary files so a large stdout
    cannot block the child; `stdout_to` sends stdout to a file instead (e.g. /dev/null).
    """
    with (
        tempfile.TemporaryFile() as out_file,
        tempfile.TemporaryFile() as err_file,
        tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss_file,
    ):
        target = open(stdout_to, "wb") if stdout_to else out_file  # noqa: SIM115 closed below
        try:
            started = time.monotonic()
            process = subprocess.Popen(
                [GNU_TIME, "--format=%M", f"--output={rss_file.name}", "--", *argv],
                cwd=PROJECT_DIR,
                env=dict(env) if env is not None else None,
                stdout=target,
                stderr=err_file,
                start_new_session=True,  # on a timeout the whole group goes, not only `time`
            )
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise
            seconds = time.monotonic() - started
        finally:
            if stdout_to:
                target.close()
        out_file.seek(0)
        err_file.seek(0)
        report = rss_file.read().strip().splitlines()
        max_rss_kb = int(report[-1]) if report and report[-1].isdigit() else 0
        run = Run(seconds, max_rss_kb / 1024, returncode, out_file.read(), err_file.read())
    if check and run.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:3])}... exited {run.returncode}: {run.stderr.decode(errors='replace')[-800:]}"
        )
    return run


def alternate(floor: Callable[[], float], subject: Callable[[], float], runs: int) -> tuple[list[float], list[float]]:
    """Run floor, subject, floor, subject, ... `runs` times each; return both lists of seconds."""
    floors: list[float] = []
    subjects: list[float] = []
    for _ in range(runs):
        floors.append(floor())
        subjects.append(subject())
    return floors, subjects


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio_of_medians(subject: Sequence[float], floor: Sequence[float]) -> float:
    return median(subject) / median(floor)


@dataclass
class Result:
    """One benchmark's outcome, as written to bench/results.json."""

    name: str
    title: str
    measure: str  # what `value` is, e.g. "time ratio subject/floor (medians)"
    value: float
    target: str
    met: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "measure": self.measure,
            "value": round(self.value, 4),
            "target": self.target,
            "met": self.met,
            "summary": self.summary,
            "details": self.details,
        }


def rounded(values: Sequence[float], digits: int = 3) -> list[float]:
    return [round(v, digits) for v in values]
