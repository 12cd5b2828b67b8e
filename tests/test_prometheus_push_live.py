"""The deployment's config push against a real Prometheus (Debian's) on loopback.

Prometheus starts from the bootstrap the container starts from; the rendered prometheus.yml and
rules then arrive through push-config.sh and prometheus-apply.sh exactly as `pulumi up` runs them,
with `nsenter` into Prometheus's mount namespace in place of `docker exec` and its pid and URL in
place of the container's (pid 1, 127.0.0.1:9090).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from monitoring.files import prometheus_pushed_files
from monitoring.prometheus import render_prometheus_bootstrap
from monitoring.rules import alert_rules
from monitoring.targets import scrape_jobs
from tests.monitoring_support import LivePrometheus, running_prometheus, tool
from tests.planning import stack_settings
from websys.push import PROMETHEUS_APPLY_SCRIPT, PUSH_SCRIPT, PushedFile, push_environment, script_text
from websys.settings import Settings

pytestmark = [pytest.mark.timeout(120), pytest.mark.live]

BASE = ["postgres.replicas=1", "backend.green.replicas=1"]


@dataclass
class Pushed:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Target:
    """Debian's Prometheus with its configuration directory standing for the container's /etc/prometheus."""

    live: LivePrometheus
    config_dir: Path

    def files(self, settings: Settings) -> list[PushedFile[str]]:
        return prometheus_pushed_files(settings, config_dir=str(self.config_dir))

    def push(self, pushed: Sequence[PushedFile[str]]) -> Pushed:
        """push-config.sh as the local.Command runs it (`/bin/sh -c SCRIPT`)."""
        pid = self.live.process.pid
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin",
            "PROMTOOL": tool("promtool"),
            "PROMETHEUS_PID": str(pid),
            "PROMETHEUS_URL": self.live.url,
            **push_environment("prometheus", f"nsenter --target {pid} --mount --", PROMETHEUS_APPLY_SCRIPT, pushed),
        }
        done = subprocess.run(
            ["/bin/sh", "-c", script_text(PUSH_SCRIPT)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Pushed(done.returncode, done.stdout, done.stderr)

    def running_config(self) -> str:
        return str(self.live.get("/api/v1/status/config")["yaml"])

    def scraped(self, expected: set[tuple[str, str]], timeout: float = 20) -> set[tuple[str, str]]:
        """The (job, instance) pairs Prometheus scrapes, once they equal `expected` or time is up."""
        deadline = time.monotonic() + timeout
        while True:
            active = self.live.get("/api/v1/targets")["activeTargets"]
            scraped = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
            if scraped == expected or time.monotonic() > deadline:
                return scraped
            time.sleep(0.3)

    def metric(self, name: str) -> str:
        """A value of Prometheus's own /metrics (it cannot scrape itself here: its job names the container)."""
        with urllib.request.urlopen(f"{self.live.url}/metrics", timeout=5) as response:  # noqa: S310 loopback
            lines = response.read().decode().splitlines()
        return str(next(line.split()[1] for line in lines if line.startswith(f"{name} ")))

    def on_disk(self) -> dict[str, str]:
        return {
            str(path.relative_to(self.config_dir)): path.read_text()
            for path in sorted(self.config_dir.rglob("*"))
            if path.is_file()
        }


def model(settings: Settings) -> set[tuple[str, str]]:
    return {(job.name, target.address) for job in scrape_jobs(settings) for target in job.targets}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp("prometheus-push")
    config_dir = directory / "etc-prometheus"
    config_dir.mkdir()
    (config_dir / "prometheus.yml").write_text(render_prometheus_bootstrap(stack_settings("production", BASE)))
    with running_prometheus(config_dir / "prometheus.yml", directory) as live:
        yield Target(live, config_dir)


def test_the_rendered_files_reach_the_running_prometheus_without_a_restart(target: Target) -> None:
    assert target.scraped(set(), timeout=0) == set()  # the bootstrap scrapes nothing
    settings = stack_settings("production", BASE)
    pid = target.live.process.pid
    result = target.push(target.files(settings))
    assert result.returncode == 0, result.stderr
    assert "checked and reloaded" in result.stdout
    assert target.scraped(model(settings)) == model(settings)
    assert "websys-production-backend-green-1:8000" in target.running_config()
    rules = target.live.get("/api/v1/rules")["groups"]
    assert {rule["name"] for group in rules for rule in group["rules"]} == {r.name for r in alert_rules(settings)}
    assert target.live.process.poll() is None
    assert target.live.process.pid == pid
    assert not [name for name in target.on_disk() if name.endswith(".next")]


def test_a_new_replica_is_scraped_after_the_next_push(target: Target) -> None:
    before = stack_settings("production", BASE)
    assert target.push(target.files(before)).returncode == 0
    after = stack_settings("production", [*BASE, "backend.blue.replicas=5", "postgres.replicas=2"])
    result = target.push(target.files(after))
    assert result.returncode == 0, result.stderr
    added = model(after) - model(before)
    assert ("backend", "websys-production-backend-blue-5:8000") in added
    assert ("postgres", "websys-production-postgres-exporter-replica-2:9187") in added
    assert target.scraped(model(after)) == model(after)


@pytest.mark.parametrize(
    ("which", "old", "new", "message"),
    [
        ("WEBSYS_PROMETHEUS_CONFIG", "scrape_interval: 15s", "scrape_interval: fifteen", '"fifteen"'),
        ("WEBSYS_PROMETHEUS_RULES", "expr: ", "expr: sum(( ", "parse error"),
    ],
)
def test_a_broken_file_is_refused_and_the_old_configuration_keeps_running(
    target: Target, which: str, old: str, new: str, message: str
) -> None:
    settings = stack_settings("production", BASE)
    assert target.push(target.files(settings)).returncode == 0
    running, files_before = target.running_config(), target.on_disk()
    broken = [
        replace(file, content=file.content.replace(old, new, 1)) if file.variable == which else file
        for file in target.files(settings)
    ]
    assert broken != target.files(settings)
    result = target.push(broken)
    assert result.returncode == 1
    assert "promtool refused the new configuration; Prometheus keeps the running one" in result.stderr
    assert message in result.stderr  # promtool's own words
    assert str(target.config_dir) in result.stderr  # named where the file would go, not a scratch copy
    assert target.on_disk() == files_before
    assert target.running_config() == running
    assert target.metric("prometheus_config_last_reload_successful") == "1"
    assert target.scraped(model(settings)) == model(settings)
