"""Run Python code in the engine's network namespace (where its published ports are).

setns(2) with CLONE_NEWNET moves only the calling thread, so each call runs in a thread of its
own that enters the namespace first; sockets it opens belong to that namespace. The pytest
process itself stays where it is.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from tests.engine.daemon import Engine

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter(netns: str) -> None:
    """Moves the calling thread into the named network namespace."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {netns}: {os.strerror(error)}")
    finally:
        os.close(fd)


def run_in(engine: Engine, function: Callable[[], T]) -> T:
    """function() in the engine's network namespace (in the caller's when the engine has none)."""
    if not engine.netns:
        return function()
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            enter(engine.netns)
            result.append(function())
        except BaseException as error:  # noqa: BLE001 handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
