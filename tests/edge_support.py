"""Runs Debian's nginx on loopback with the rendered configuration, and load against it.

Replica hostnames (the container names the config routes to) resolve inside a private mount
namespace (`unshare --mount` with a bind-mounted /etc/hosts) to loopback addresses where
`tests/edge_replica.py` servers answer. Configuration changes go through the deployment's own
`push-config.sh` with `nginx-apply.sh`, with `nsenter` into nginx's namespace instead of `docker exec`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitoring.targets import grafana_name
from tests.planning import stack_settings
from websys import naming
from websys.push import NGINX_APPLY_SCRIPT, PUSH_SCRIPT, PushedFile, push_environment, script_text
from websys.render.nginx import NginxRuntime, render_nginx, render_nginx_bootstrap
from websys.settings import COLORS, Settings

REPLICA_SCRIPT = Path(__file__).with_name("edge_replica.py")
SERVICES = ("frontend", "backend")
# Grafana's stand-in: nginx proxies to the container's fixed port 3000, on an address of its own.
GRAFANA_ADDRESS = "127.0.30.1"
GRAFANA_PORT = 3000


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    assert found, "nginx is not installed: run scripts/install-system-packages.sh"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))  # noqa: S104 free on every address, so on every loopback one too
        port: int = sock.getsockname()[1]
        return port


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, made by openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    crt, key = directory / "test.crt", directory / "test.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return crt, key


def replica_addresses(settings: Settings, extra: int = 0) -> dict[tuple[str, str, int], str]:
    """A distinct loopback address for every replica of both colors (and `extra` more per color)."""
    addresses: dict[tuple[str, str, int], str] = {}
    for s, service in enumerate(SERVICES):
        tier = settings.frontend if service == "frontend" else settings.backend
        for c, color in enumerate(COLORS):
            for index in range(1, tier.replicas(color) + 1 + extra):
                addresses[(service, color, index)] = f"127.0.{10 + 2 * s + c}.{index}"
    return addresses


def hosts_file(settings: Settings, addresses: dict[tuple[str, str, int], str]) -> str:
    lines = ["127.0.0.1 localhost", f"{GRAFANA_ADDRESS} {grafana_name(settings.environment)}"]
    for (service, color, index), address in sorted(addresses.items()):
        lines.append(f"{address} {naming.replica_name(settings.environment, service, color, index)}")
    return "\n".join(lines) + "\n"


@dataclass
class Replica:
    service: str
    color: str
    index: int
    address: str
    port: int
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPLICA_SCRIPT),
                self.address,
                str(self.port),
                self.service,
                self.color,
                str(self.index),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready", or "" if it died
        assert line.strip() == "ready", f"replica {self.service}-{self.color}-{self.index} did not start"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crashed container: no goodbye
            self.process.wait(timeout=10)


@dataclass
class PushResult:
    returncode: int
    stdout: str
    stderr: str
    started: float = 0.0
    finished: float = 0.0  # time.monotonic() when the push script returned

    def switch_ms(self) -> tuple[int, int | None]:
        """What nginx-apply.sh reports: milliseconds until every new request was served by the new
        configuration, and until the old workers had finished (None: still finishing)."""
        found = re.search(r"new configuration after (\d+) ms; (?:old workers finished .* after (\d+) ms)?", self.stdout)
        assert found, f"no switch time in {self.stdout!r}"
        return int(found[1]), int(found[2]) if found[2] else None


@dataclass
class LiveEdge:
    """Debian's nginx serving the rendered config on loopback, with replicas of both colors."""

    root: Path
    stack: str = "development"
    replicas_per_color: int = 2
    nginx: str = field(default_factory=nginx_binary)
    process: subprocess.Popen[bytes] | None = None
    replicas: list[Replica] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http_port, self.https_port, self.status_port = free_port(), free_port(), free_port()
        self.frontend_port, self.backend_port = free_port(), free_port()
        self.certificate, self.private_key = make_certificate(self.root / "test-ca")
        (self.root / "tls").mkdir(parents=True, exist_ok=True)
        (self.root / "temp").mkdir(parents=True, exist_ok=True)
        self.config_path = self.root / "nginx.conf"
        self.runtime = NginxRuntime(
            http_port=self.http_port,
            https_port=self.https_port,
            public_https_port=self.https_port,
            status_port=self.status_port,
            user=None,  # the tests run as root; workers run as nginx's compiled-in default user
            worker_processes="2",
            pid_path=str(self.root / "nginx.pid"),
            error_log=str(self.root / "error.log"),
            access_log=str(self.root / "access.log"),
            temp_dir=str(self.root / "temp"),
            certificate=str(self.root / "tls" / "websys.crt"),
            private_key=str(self.root / "tls" / "websys.key"),
        )
        self.active: str | None = None

    def settings(self, color: str, extra_sets: Sequence[str] = ()) -> Settings:
        n = self.replicas_per_color
        return stack_settings(
            self.stack,
            [
                f"frontend.port={self.frontend_port}",
                f"backend.port={self.backend_port}",
                *[f"{service}.{c}.replicas={n}" for service in SERVICES for c in COLORS],
                f"deploy.activeColor={color}",
                *extra_sets,
            ],
        )

    def render(self, color: str, extra_sets: Sequence[str] = ()) -> str:
        return render_nginx(self.settings(color, extra_sets), self.runtime)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        settings = self.settings("blue")
        addresses = replica_addresses(settings, extra=1)  # one name more per color resolves too
        hosts = self.root / "hosts"
        hosts.write_text(hosts_file(settings, addresses))
        for (service, color, index), address in sorted(addresses.items()):
            if index > self.replicas_per_color:
                continue
            port = self.frontend_port if service == "frontend" else self.backend_port
            replica = Replica(service, color, index, address, port)
            self.replicas.append(replica)
            replica.start()
        grafana = Replica("grafana", "none", 1, GRAFANA_ADDRESS, GRAFANA_PORT)
        self.replicas.append(grafana)
        grafana.start()
        # As the container does: start with the bootstrap, then the first checked push.
        self.config_path.write_text(render_nginx_bootstrap(settings, self.runtime))
        self.process = subprocess.Popen(
            [
                "unshare", "--mount", "--", "sh", "-c",
                'mount --bind "$1" /etc/hosts && exec "$2" -c "$3" -g "daemon off;"',
                "sh", str(hosts), self.nginx, str(self.config_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "nginx.stderr").open("wb"),
            start_new_session=True,
        )  # fmt: skip
        self.wait_until(self.status_ok, "the bootstrap configuration to serve /health")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers share the master's session: none may outlive it.
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        for replica in self.replicas:
            replica.kill()

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {(self.root / 'nginx.stderr').read_text()}")
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def status(self, path: str = "/health") -> tuple[int, str]:
        """GET on the internal status port (plain HTTP, no proxy)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.status_port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def status_ok(self) -> bool:
        try:
            return self.status()[0] == 200
        except OSError:
            return False

    # -- the deployment's write, test and reload path -------------------------------------------
    def push(self, config: str, timeout: float = 30, **overrides: str) -> PushResult:
        """Run push-config.sh exactly as the local.Command does (`/bin/sh -c SCRIPT`); `overrides`
        replace or add environment variables (another key, WEBSYS_REFUSE)."""
        assert self.process is not None
        environment = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin") + ":/usr/sbin:/sbin",
            "NGINX": self.nginx,
            **push_environment(
                "nginx",
                f"nsenter --target {self.process.pid} --mount --",
                NGINX_APPLY_SCRIPT,
                [
                    PushedFile("WEBSYS_NGINX_CONFIG", str(self.config_path), config),
                    PushedFile("WEBSYS_TLS_CERTIFICATE", self.runtime.certificate, self.certificate.read_text()),
                    PushedFile(
                        "WEBSYS_TLS_PRIVATE_KEY", self.runtime.private_key, self.private_key.read_text(), mode="600"
                    ),
                ],
            ),
            **overrides,
        }
        started = time.monotonic()
        done = subprocess.run(
            ["/bin/sh", "-c", script_text(PUSH_SCRIPT)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return PushResult(done.returncode, done.stdout, done.stderr, started, time.monotonic())

    def workers(self) -> dict[int, str]:
        """nginx's worker processes (the master's children) and their process titles."""
        assert self.process is not None
        found: dict[int, str] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                if int(stat.read_text().rsplit(") ", 1)[1].split()[1]) == self.process.pid:
                    found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        return found

    def activate(self, color: str) -> None:
        """Route to `color` through the checked push, and wait until every response is from it."""
        result = self.push(self.render(color))
        assert result.returncode == 0, result.stderr
        self.wait_until(lambda: all(r.color == color for r in (self.get("/") for _ in range(10))), f"{color}")
        self.active = color

    # -- clients -----------------------------------------------------------------------------
    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def get(self, path: str, context: ssl.SSLContext | None = None) -> Response:
        return fetch(self.https_port, path, context or self.tls_context())


@dataclass
class Response:
    ok: bool
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""
    started: float = 0.0
    finished: float = 0.0  # time.monotonic() when the response was read or the request failed

    @property
    def color(self) -> str | None:
        try:
            value = json.loads(self.body).get("color")
        except ValueError:
            return None
        return value if isinstance(value, str) else None


def fetch(port: int, path: str, context: ssl.SSLContext, host: str = "localhost") -> Response:
    """One GET over a new TLS connection (nothing is retried: any error is a failed request)."""
    started = time.monotonic()
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host, "Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Response(
            response.status == 200, response.status, headers, body, started=started, finished=time.monotonic()
        )
    except (OSError, http.client.HTTPException) as error:
        return Response(False, error=f"{type(error).__name__}: {error}", started=started, finished=time.monotonic())
    finally:
        connection.close()


@dataclass
class LoadResult:
    responses: list[Response]
    action_started: float
    action_finished: float

    @property
    def failures(self) -> list[Response]:
        return [r for r in self.responses if not r.ok]


def run_load(
    edge: LiveEdge,
    total: int,
    action: Callable[[], None],
    action_after: int,
    threads: int = 4,
    paths: Sequence[str] = ("/", "/api/items"),
    time_limit: float = 120,
) -> LoadResult:
    """`total` GETs from `threads` clients; `action` runs (concurrently) once `action_after` are done."""
    with Load(edge, threads, paths, time_limit) as load:
        load.wait_for(action_after)
        action_started = time.monotonic()
        action()
        action_finished = time.monotonic()
        load.wait_for(total)
    return LoadResult(load.responses(), action_started, action_finished)


class Load:
    """GETs from `threads` clients, each a new TLS connection, from `with` until its end (or the
    time limit, which fails the test): actions run in the test's thread meanwhile."""

    def __init__(
        self, edge: LiveEdge, threads: int = 4, paths: Sequence[str] = ("/", "/api/items"), time_limit: float = 120
    ) -> None:
        self.port, self.context, self.paths = edge.https_port, edge.tls_context(), paths
        self.deadline = time.monotonic() + time_limit
        self.lock = threading.Lock()
        self.done: list[Response] = []
        self.issued = 0
        self.stopped = threading.Event()
        self.workers = [threading.Thread(target=self.worker, daemon=True) for _ in range(threads)]

    def worker(self) -> None:
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                number = self.issued
                self.issued += 1
            response = fetch(self.port, self.paths[number % len(self.paths)], self.context)
            with self.lock:
                self.done.append(response)

    def __enter__(self) -> Load:
        for thread in self.workers:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.workers:
            thread.join(timeout=max(0.0, self.deadline - time.monotonic()) + 15)
        assert not any(t.is_alive() for t in self.workers), "the load did not finish in time"

    def count(self, started_after: float = 0.0) -> int:
        with self.lock:
            return sum(1 for r in self.done if r.started > started_after)

    def wait_for(self, count: int, started_after: float = 0.0) -> None:
        """Until `count` responses of requests started after `started_after` are in."""
        while self.count(started_after) < count:
            assert time.monotonic() < self.deadline, "the load did not finish in time"
            time.sleep(0.005)

    def responses(self) -> list[Response]:
        with self.lock:
            return sorted(self.done, key=lambda r: r.started)
