"""The rendered prometheus.yml and rules loaded by a real Prometheus (Debian's) on loopback."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitoring.rules import alert_rules
from monitoring.targets import scrape_jobs
from tests.monitoring_support import render_into, running_prometheus
from tests.planning import stack_settings
from websys.settings import Settings

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def settings() -> Settings:
    return stack_settings("production", ["postgres.replicas=2", "backend.green.replicas=2"])


@pytest.fixture(scope="module")
def prometheus(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("prometheus")
    render_into(directory, settings)
    with running_prometheus(directory / "prometheus/prometheus.yml", directory) as live:
        yield live.url


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 loopback
        return json.loads(response.read())["data"]


def test_prometheus_loads_every_rule(prometheus: str, settings: Settings) -> None:
    groups = get(f"{prometheus}/api/v1/rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == {rule.name for rule in alert_rules(settings)}
    assert all(rule["type"] == "alerting" for rule in loaded.values())


def test_prometheus_scrapes_every_target_of_the_model(prometheus: str, settings: Settings) -> None:
    expected = {(job.name, target.address) for job in scrape_jobs(settings) for target in job.targets}
    # Targets appear once service discovery has synced (a few seconds after start).
    deadline = time.monotonic() + 20
    while True:
        active = get(f"{prometheus}/api/v1/targets")["activeTargets"]
        scraped = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
        if scraped == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert scraped == expected
    green = [t for t in active if t["labels"].get("color") == "green"]
    assert len(green) == 2
    replicas = [t for t in active if t["labels"].get("role") == "replica"]
    assert len(replicas) == 2


def test_prometheus_points_at_alertmanager_and_keeps_the_environment(prometheus: str, settings: Settings) -> None:
    config = get(f"{prometheus}/api/v1/status/config")["yaml"]
    assert "websys-production-alertmanager:9093" in config
    assert "environment: production" in config
    flags = get(f"{prometheus}/api/v1/status/flags")
    assert Path(flags["config.file"]).name == "prometheus.yml"
