"""Shared measurement helpers: timed processes with peak memory, alternating runs, the result record.

Every timed benchmark compares against a floor measured in the same run: floor and subject alternate
(floor, subject, floor, subject, ...) and the result is a ratio of medians, so drift in the machine's
load affects both sides alike.
"""

from __future__ import annotations

import os
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


def run_timed(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdout_to: str | None = None,
    timeout: float = 600,
    check: bool = True,
) -> Run:
    """Start `argv`, wait with os.wait4 and return its wall time and ru_maxrss.

    ru_maxrss is the largest of the process and its waited-for children (pg_dump inside `websys backup`
    counts if it was larger). Output goes to temporary files so a large stdout cannot block the child;
    `stdout_to` sends stdout to a file instead (e.g. /dev/null) and returns no stdout.
    """
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        target = open(stdout_to, "wb") if stdout_to else out_file  # noqa: SIM115 closed below
        try:
            started = time.monotonic()
            process = subprocess.Popen(
                list(argv), cwd=PROJECT_DIR, env=dict(env) if env is not None else None, stdout=target, stderr=err_file
            )
            deadline = started + timeout
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    os.wait4(process.pid, 0)
                    raise TimeoutError(f"{argv[0]} did not finish within {timeout}s")
                time.sleep(0.002)
            seconds = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if stdout_to:
                target.close()
        out_file.seek(0)
        err_file.seek(0)
        run = Run(seconds, usage.ru_maxrss / 1024, process.returncode, out_file.read(), err_file.read())
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
