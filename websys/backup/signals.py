"""SIGTERM handled like SIGINT: `docker stop` sends SIGTERM, a terminal sends SIGINT, and both must
abort an upload or drop an incomplete database the same way.

Both raise `Interrupted` (a KeyboardInterrupt) in the main thread, so every `finally` and
`except BaseException` that cleans up after Ctrl-C also runs after `docker stop`. Inside `held()`
(a cleanup that must not itself be cut short, a rename that must happen whole) a signal is only
noted, and raised when the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


_pending: list[int] = []
_depth = [0]


def _handler(signum: int, frame: FrameType | None) -> None:
    if _depth[0] > 0:
        _pending.append(signum)
        return
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only, as Python requires)."""
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, _handler)


@contextmanager
def held() -> Iterator[None]:
    """Run the block whole; a signal that arrives meanwhile is raised when it ends."""
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        pending = list(_pending) if _depth[0] == 0 else []
        if _depth[0] == 0:
            _pending.clear()
    if pending:  # the block ended normally: now the interruption takes effect
        raise Interrupted(pending[0])
