"""Helpers of the monitoring tests: settings with overrides, rendering into a directory, the real tools."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.files import RenderedFile, monitoring_files
from websys.settings import Settings

# Every receiver kind at once, with its credentials as secrets (as `--secret` gives them).
ALL_RECEIVERS = [
    "monitoring.receivers.webhook={url: 'https://hooks.websys.company.com/alerts'}",
    "monitoring.receivers.slack={channel: '#websys-ops'}",
    "monitoring.receivers.email={to: ops@websys.company.com, sender: am@websys.company.com, "
    "smarthost: 'smtp.websys.company.com:587', authUsername: alertmanager}",
]
RECEIVER_SECRETS = [
    "alertWebhookToken=token-for-test",
    "alertSlackWebhookUrl=https://hooks.slack.com/services/T0/B0/secret",
    "alertEmailPassword=smtp-password-for-test",
]


def render_into(directory: Path, settings: Settings) -> list[RenderedFile]:
    rendered = monitoring_files(settings)
    for file in rendered:
        path = directory / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.content, encoding="utf-8")
    return rendered


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
    assert found, f"{name} is not installed: run scripts/install-system-packages.sh"
    return found


def run(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LivePrometheus:
    process: subprocess.Popen[bytes]
    url: str

    def get(self, path: str) -> Any:
        """The `data` of a Prometheus API answer."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:  # noqa: S310 loopback
            return json.loads(response.read())["data"]


@contextmanager
def running_server(command: list[str], url: str, log: Path, timeout: float = 30) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command` (a Prometheus-project server), wait until `url`/-/ready answers, stop it at the end."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:  # noqa: S310 loopback
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{Path(command[0]).name} did not start: " + log.read_text()[-2000:])
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def running_prometheus(config: Path, directory: Path) -> Iterator[LivePrometheus]:
    """Debian's Prometheus on a free loopback port with `config`, until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        tool("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running_server(command, url, directory / "prometheus.log") as process:
        yield LivePrometheus(process, url)
