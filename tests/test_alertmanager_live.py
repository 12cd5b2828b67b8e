"""The rendered alertmanager.yml in a real Alertmanager (Debian's) on loopback: routing and inhibition."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitoring.alertmanager import render_alertmanager_config, secret_files
from tests.monitoring_support import ALL_RECEIVERS, RECEIVER_SECRETS, free_port, run, running_server, tool
from tests.planning import stack_settings
from websys.settings import Settings

pytestmark = pytest.mark.live

TARGET = "websys-production-postgres-exporter-primary:9187"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return stack_settings("production", ALL_RECEIVERS, RECEIVER_SECRETS)


@pytest.fixture(scope="module")
def alertmanager(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("alertmanager")
    secrets = directory / "secrets"
    secrets.mkdir()
    for secret in secret_files(settings):
        value = getattr(settings, secret.setting)
        (secrets / secret.name).write_text(value.get_secret_value())
    config = directory / "alertmanager.yml"
    config.write_text(render_alertmanager_config(settings, secrets_dir=str(secrets)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        tool("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with running_server(command, url, directory / "alertmanager.log", timeout=20):
        yield url


def api(url: str, path: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 loopback
        f"{url}{path}", data=data, headers={"Content-Type": "application/json"}, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 loopback
        text = response.read().decode()
    return json.loads(text) if text else None


def alert(name: str, severity: str, instance: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "instance": instance, "environment": "production"},
        "annotations": {"summary": name},
    }


def test_critical_inhibits_warning_for_the_same_target_only(alertmanager: str) -> None:
    api(
        alertmanager,
        "/api/v2/alerts",
        [
            alert("DatabaseConnectionError", "critical", TARGET),
            alert("TargetDown", "warning", TARGET),  # the same target: silenced
            alert("HighCPUUsage", "warning", "websys-production-node-exporter:9100"),  # another: not
        ],
    )
    states: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = {a["labels"]["alertname"]: a["status"] for a in api(alertmanager, "/api/v2/alerts")}
        if len(states) == 3 and states["TargetDown"]["state"] == "suppressed":
            break
        time.sleep(0.2)
    assert states["DatabaseConnectionError"]["state"] == "active"
    assert states["TargetDown"]["state"] == "suppressed"
    assert states["TargetDown"]["inhibitedBy"]
    assert states["HighCPUUsage"]["state"] == "active"
    assert not states["HighCPUUsage"]["inhibitedBy"]


def test_the_running_config_has_every_receiver(alertmanager: str) -> None:
    status = api(alertmanager, "/api/v2/status")
    original = status["config"]["original"]
    for integration in ("webhook_configs", "email_configs", "slack_configs"):
        assert integration in original
    receivers = {receiver["name"] for receiver in api(alertmanager, "/api/v2/receivers")}
    assert receivers == {"critical", "warning"}


@pytest.mark.parametrize(("severity", "receiver"), [("critical", "critical"), ("warning", "warning")])
def test_routing_by_severity(settings: Settings, tmp_path: Path, severity: str, receiver: str) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager_config(settings))
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={config}", f"severity={severity}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
