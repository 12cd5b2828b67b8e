"""What the engine tests look at: a process's status, HTTPS on the engine's loopback, load, TLS."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.engine import netns
from tests.engine.daemon import Engine

# Linux capability numbers (include/uapi/linux/capability.h) of the ones the plans add.
CAPABILITY_BITS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "DAC_READ_SEARCH": 2,
    "FOWNER": 3,
    "SETGID": 6,
    "SETUID": 7,
    "NET_BIND_SERVICE": 10,
}


def capability_mask(names: list[str]) -> int:
    return sum(1 << CAPABILITY_BITS[name.removeprefix("CAP_")] for name in names)


def inspect(engine: Engine, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(engine.docker("inspect", name).stdout)
    return found[0]


def process_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status of a container's process, read from the host (the same kernel object)."""
    lines = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def root_mount_options(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/mountinfo").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5].split(",")
    raise AssertionError(f"process {pid} has no root mount")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def served_by(self) -> str:
        """The replica that answered: the reference app and its look-alike name it in X-Served-By."""
        return self.headers.get("x-served-by", "")


def _https(
    host_header: str,
    path: str,
    port: int,
    timeout: float,
    payload: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    sent = {"Host": host_header, **(headers or {})}
    if payload is not None:
        sent["Content-Type"] = "application/json"
    try:
        connection.request("GET" if payload is None else "POST", path, body=payload, headers=sent)
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def https_get(engine: Engine, host_header: str, path: str, port: int = 443, timeout: float = 10) -> Reply:
    """GET https://127.0.0.1:<port><path> in the engine's network namespace, with a Host header."""
    return netns.run_in(engine, lambda: _https(host_header, path, port, timeout))


def https_post(
    engine: Engine,
    host_header: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    port: int = 443,
    timeout: float = 10,
) -> Reply:
    """POST a JSON body to https://127.0.0.1:<port><path> in the engine's network namespace."""
    return netns.run_in(engine, lambda: _https(host_header, path, port, 10, body, headers))


def tcp_listener(engine: Engine | None, address: str) -> tuple[socket.socket, int]:
    """A listening socket on address (in the engine's namespace when given): what a probe may reach."""

    def listen() -> tuple[socket.socket, int]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, 0))
        sock.listen(16)
        return sock, int(sock.getsockname()[1])

    return netns.run_in(engine, listen) if engine is not None else listen()


def can_connect(engine: Engine, container: str, address: str, port: int, timeout: float = 3) -> bool:
    """Whether a TCP connection from inside the container to address:port succeeds."""
    probe = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout({timeout})\n"
        f"sys.exit(0 if s.connect_ex(({address!r}, {port})) == 0 else 1)\n"
    )
    result = engine.docker("exec", container, "python3", "-c", probe, check=False, timeout=timeout + 20)
    if result.returncode not in (0, 1):
        raise AssertionError(f"probe in {container} failed: {result.stderr.strip()}")
    return result.returncode == 0


@dataclass
class Load:
    """Requests at a bounded rate from a few threads in the engine's namespace, until stopped."""

    engine: Engine
    host_header: str
    path: str
    threads: int = 4
    pause: float = 0.02
    timeout: float = 5.0
    replies: list[tuple[float, int, str]] = field(default_factory=list)  # (time, status, answering host)
    failures: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        if self.engine.netns:
            netns.enter(self.engine.netns)
        while not self._stop.is_set():
            stamp = time.monotonic()
            try:
                reply = _https(self.host_header, self.path, 443, self.timeout)
                host = reply.served_by if reply.status == 200 else ""
                with self._lock:
                    self.replies.append((stamp, reply.status, host))
            except (OSError, http.client.HTTPException) as error:
                with self._lock:
                    self.failures.append((stamp, repr(error)))
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout + 5)

    def bad(self) -> list[tuple[float, int, str]]:
        return [reply for reply in self.replies if reply[1] != 200]


def wait_until(check: Callable[[], bool], what: str, timeout: float, pause: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(pause)
