"""Progress of a transfer: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

MIB = 1024 * 1024


class Reporter(Protocol):
    def advance(self, count: int) -> None: ...
    def close(self, ok: bool = True) -> None: ...


def log(message: str, stream: TextIO | None = None) -> None:
    """One timestamped line on stderr (stdout is kept for results)."""
    out = stream or sys.stderr
    out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}\n")
    out.flush()


class LogReporter:
    """A line every `every_bytes` or `every_seconds`, whichever comes first, and one at the end."""

    def __init__(self, label: str, total: int | None, every_bytes: int = 256 * MIB, every_seconds: float = 30) -> None:
        self.label, self.total = label, total
        self.every_bytes, self.every_seconds = every_bytes, every_seconds
        self.done = 0
        self.started = self.last_time = time.monotonic()
        self.last_bytes = 0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.done - self.last_bytes >= self.every_bytes or now - self.last_time >= self.every_seconds:
            self.last_bytes, self.last_time = self.done, now
            log(f"{self.label}: {self._amount()}")

    def _amount(self) -> str:
        text = f"{self.done / MIB:.1f} MiB"
        if self.total:
            text += f" of {self.total / MIB:.1f} MiB ({100 * self.done / self.total:.0f}%)"
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{text}, {self.done / MIB / elapsed:.1f} MiB/s"

    def close(self, ok: bool = True) -> None:
        """The closing line, on success only: a failure is told once, by its error."""
        if ok:
            log(f"{self.label}: done, {self._amount()}")


class BarReporter:
    def __init__(self, label: str, total: int | None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        # The whole label on a line of its own: next to the bar, a long key would squeeze the bar out.
        log(label)
        self.progress.start()
        self.task = self.progress.add_task(label.split(" ", 1)[0], total=total)

    def advance(self, count: int) -> None:
        self.progress.advance(self.task, count)

    def close(self, ok: bool = True) -> None:
        self.progress.stop()


def reporter(label: str, total: int | None = None) -> Reporter:
    if sys.stderr.isatty():
        return BarReporter(label, total)
    return LogReporter(label, total)
