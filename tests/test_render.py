"""`websys render`: it writes exactly what the plan deploys, and every file passes the program that reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.datatier import (
    PgServer,
    give_to_postgres,
    init_and_start,
    new_password,
    pg_binary,
    pg_env,
    run_as_postgres,
    stop_process,
    wait_until,
)
from tests.live_servers import free_port
from tests.monitoring_support import run, tool
from tests.planning import CONTAINER, run_websys, stack_file, stack_settings
from tests.test_nginx_render import container_nginx_t
from websys.plan import Plan
from websys.render import postgres as pg_files
from websys.render import redis as redis_files
from websys.render.redis import render_redis_auth
from websys.settings import ENVIRONMENTS

pytestmark = pytest.mark.timeout(120)

SECRET = "[secret]"
DATA_KINDS = {"nginx", "nginx-bootstrap", "postgresql", "pg_hba", "postgres-init", "redis"}
MONITORING_KINDS = {
    "prometheus",
    "prometheus-rules",
    "prometheus-rules-test",
    "alertmanager",
    "grafana-datasource",
    "grafana-dashboard-provider",
    "grafana-dashboard",
}


@dataclass(frozen=True)
class Rendered:
    stack: str
    directory: Path
    artifacts: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [entry for entry in self.artifacts if entry["kind"] == kind]

    def file(self, kind: str) -> Path:
        paths = {entry["path"] for entry in self.of_kind(kind)}
        assert len(paths) == 1, f"{self.stack}: {kind}: {paths}"
        return self.directory / str(paths.pop())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """`websys render STACK --out DIR` of every stack, once."""
    found: dict[str, Rendered] = {}
    for stack in ENVIRONMENTS:
        directory = tmp_path_factory.mktemp(f"render-{stack}") / "out"
        result = run_websys("render", stack, "--stack-file", str(stack_file(stack)), "--out", str(directory))
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        found[stack] = Rendered(stack, directory, json.loads((directory / "artifacts.json").read_text()))
    return found


def plan_json(plan: Plan) -> dict[str, Any]:
    """What `websys plan STACK --json` prints (the same recorder and serialisation)."""
    document: dict[str, Any] = json.loads(plan.dumps())
    return document


def deployed(document: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(resource name, target path) -> the contents the plan delivers there: each container's
    uploads, and each config push (a command whose WEBSYS_FILES names the variable and the path of
    each file, and whose WEBSYS_EXEC names the container)."""
    found: dict[tuple[str, str], list[str]] = {}
    by_container_name = {
        resource["inputs"].get("name"): resource["name"]
        for resource in document["resources"]
        if resource["type"] == CONTAINER
    }
    for resource in document["resources"]:
        if resource["type"] == CONTAINER:
            for upload in resource["inputs"].get("uploads", []):
                found.setdefault((resource["name"], upload["file"]), []).append(upload["content"])
        environment = resource["inputs"].get("environment")
        if isinstance(environment, dict) and "WEBSYS_FILES" in environment:
            container = by_container_name[environment["WEBSYS_EXEC"].split()[-1]]
            for line in environment["WEBSYS_FILES"].splitlines():
                variable, _mode, path = line.split()
                found.setdefault((container, path), []).append(environment[variable])
    return found


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_render_writes_every_file_and_its_index(rendered: dict[str, Rendered], stack: str) -> None:
    result = rendered[stack]
    kinds = {entry["kind"] for entry in result.artifacts}
    monitoring = stack_settings(stack).monitoring.enabled
    assert kinds >= DATA_KINDS | ({"postgres-replica-bootstrap"} if stack != "development" else set())
    assert (kinds >= MONITORING_KINDS) == monitoring
    assert kinds.isdisjoint(MONITORING_KINDS) != monitoring
    for entry in result.artifacts:
        assert set(entry) <= {"path", "kind", "resource", "target", "secret"}
        assert entry["target"].startswith("/")
        if entry.get("secret"):
            assert entry["path"] is None
        else:
            assert (result.directory / entry["path"]).is_file(), entry
    listed = {entry["path"] for entry in result.artifacts if entry["path"]} | {"artifacts.json"}
    on_disk = {str(path.relative_to(result.directory)) for path in result.directory.rglob("*") if path.is_file()}
    assert on_disk == listed  # nothing else, and no secret file
    secrets = {entry["target"] for entry in result.artifacts if entry.get("secret")}
    assert {redis_files.AUTH_FILE, redis_files.PASSWORD_FILE, pg_files.REPLICATION_PASSWORD_FILE} <= secrets


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_each_file_is_exactly_what_the_plan_deploys_and_nothing_is_missing(
    rendered: dict[str, Rendered], stack_plans: dict[str, Plan], stack: str
) -> None:
    result = rendered[stack]
    delivered = deployed(plan_json(stack_plans[stack]))
    covered = set()
    for entry in result.artifacts:
        key = (entry["resource"], entry["target"])
        assert key in delivered, f"{stack}: the plan delivers nothing to {key}"
        if entry.get("secret"):
            # The TLS pair goes by the config push: from secret config, generated, or "" (missing).
            if not entry["kind"].startswith("tls-"):
                assert delivered[key] == [SECRET], f"{stack}: {key} is not secret in the plan"
        else:
            content = (result.directory / entry["path"]).read_text()
            assert content in delivered[key], f"{stack}: {key} differs from the plan"
        covered.add(key)
    # And the other way round: every file the plan puts into a container is rendered or listed.
    assert set(delivered) == covered


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_nginx_t_accepts_the_rendered_config_and_bootstrap(
    rendered: dict[str, Rendered], stack: str, tmp_path: Path
) -> None:
    result = rendered[stack]
    settings = stack_settings(stack)
    for kind in ("nginx", "nginx-bootstrap"):
        checked = container_nginx_t(result.file(kind).read_text(), settings, tmp_path / kind)
        assert checked.returncode == 0, f"{kind}: {checked.stderr}"
        assert "[warn]" not in checked.stderr


@pytest.mark.parametrize("stack", [stack for stack in ENVIRONMENTS if stack_settings(stack).monitoring.enabled])
def test_promtool_and_amtool_accept_the_monitoring_files(rendered: dict[str, Rendered], stack: str) -> None:
    result = rendered[stack]
    config = result.file("prometheus")
    rules = result.file("prometheus-rules")
    tests = result.file("prometheus-rules-test")
    # Laid out as in the container: the config finds its rules, the tests find the rules.
    checked = run(tool("promtool"), "check", "config", config.name, cwd=config.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
    checked = run(tool("promtool"), "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = run(tool("promtool"), "test", "rules", str(tests.relative_to(config.parent)), cwd=config.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = run(tool("amtool"), "check-config", str(result.file("alertmanager")))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for entry in result.of_kind("grafana-dashboard") + result.of_kind("grafana-datasource"):
        assert (result.directory / entry["path"]).read_text().strip()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL 15 server (initdb, then started with production's rendered postgresql.conf),
    to read each stack's pg_hba.conf: pg_hba_file_rules parses the configured file when queried."""
    root = Path(tempfile.mkdtemp(prefix="websys-render-pg-"))
    give_to_postgres(root)
    server: PgServer | None = None
    try:
        settings = stack_settings("production")
        sockets = root / "sock"
        sockets.mkdir()
        give_to_postgres(sockets)
        conf, hba = root / "postgresql.conf", root / "pg_hba.conf"
        conf.write_text(pg_files.render_postgresql_conf(settings))
        hba.write_text(pg_files.render_pg_hba(settings))
        for path in (conf, hba):
            give_to_postgres(path)
        server = init_and_start("render-check", root / "pgdata", conf, hba, sockets, root / "postgres.log", [])
        server.extra.update(hba=hba, root=root)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_postgres_reads_the_rendered_conf_and_hba_and_sh_the_scripts(
    rendered: dict[str, Rendered], pg_server: PgServer, stack: str
) -> None:
    result = rendered[stack]
    settings = stack_settings(stack)
    # `postgres -C` parses the whole file (any bad line fails it) and reports a setting; it needs
    # a data directory to name, not an initialised one.
    root: Path = pg_server.extra["root"]
    empty = root / f"empty-{stack}"
    empty.mkdir()
    conf = root / f"postgresql-{stack}.conf"
    shutil.copy(result.file("postgresql"), conf)
    for path in (empty, conf):
        give_to_postgres(path)
    checked = run_as_postgres(
        [pg_binary("postgres"), "-D", str(empty), "-c", f"config_file={conf}", "-C", "max_connections"], pg_env()
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == str(settings.postgres.max_connections)
    # The server parses this stack's pg_hba.conf in place of its own.
    hba: Path = pg_server.extra["hba"]
    hba_text = result.file("pg_hba").read_text()
    hba.write_text(hba_text)
    # Every rule line of the rendered file is read, and none is in error.
    rule_lines = [line for line in hba_text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rules = pg_server.admin("SELECT count(*) FILTER (WHERE error IS NULL), count(error) FROM pg_hba_file_rules")
    assert rule_lines, "the rendered pg_hba.conf has no rule"
    assert rules == f"{len(rule_lines)}|0", rules
    for kind in ("postgres-init", "postgres-replica-bootstrap"):
        for entry in result.of_kind(kind):
            script = result.directory / entry["path"]
            assert script.read_text().startswith("#!/bin/sh\n")
            assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0, script


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_redis_server_runs_with_the_rendered_conf(rendered: dict[str, Rendered], stack: str, tmp_path: Path) -> None:
    """Only the two container paths (the password include and /data) are made local."""
    text = rendered[stack].file("redis").read_text()
    auth, data = tmp_path / "redis-auth.conf", tmp_path / "data"
    data.mkdir()
    password = new_password()
    auth.write_text(render_redis_auth(password))
    assert text.count(f"include {redis_files.AUTH_FILE}\n") == 1
    assert text.count(f"dir {redis_files.DATA_DIR}\n") == 1
    local = text.replace(f"include {redis_files.AUTH_FILE}\n", f"include {auth}\n").replace(
        f"dir {redis_files.DATA_DIR}\n", f"dir {data}\n"
    )
    (tmp_path / "redis.conf").write_text(local)
    port = free_port()
    redis_server = shutil.which("redis-server")
    assert redis_server, "install redis-server"
    log = (tmp_path / "redis.log").open("w")
    process = subprocess.Popen(
        [redis_server, str(tmp_path / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def cli(*args: str, secret: str | None = None) -> str:
        env = {"PATH": "/usr/bin:/bin", **({"REDISCLI_AUTH": secret} if secret else {})}
        done = subprocess.run(
            ["redis-cli", "-p", str(port), *args], env=env, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    try:
        assert wait_until(lambda: process.poll() is not None or cli("PING") != "", 20), "redis-server did not start"
        assert process.poll() is None, (tmp_path / "redis.log").read_text()
        assert "NOAUTH" in cli("PING")
        assert cli("PING", secret=password) == "PONG"
        settings = stack_settings(stack).redis
        assert cli("CONFIG", "GET", "maxmemory", secret=password).splitlines()[1] == str(settings.maxmemory_mb << 20)
    finally:
        stop_process(process)
        log.close()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    for args in (
        ["render", "qa", "--out", str(tmp_path / "a")],
        ["render", "staging", "--out", str(tmp_path / "b"), "--set", "postgres.replicas=-1"],
        ["render", "staging", "--out", str(tmp_path / "file")],
        ["render", "staging", "--out", str(tmp_path / "full")],
        ["render", "staging", "--stack-file", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "c")],
    ):
        result = run_websys(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "c").exists()


def test_set_overrides_and_a_new_render_replaces_the_previous_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    production = ("render", "production", "--stack-file", str(stack_file("production")), "--out", str(out))
    two = run_websys(*production, "--set", "postgres.replicas=2")
    assert two.returncode == 0, two.stderr
    assert (out / "postgres/replica-2").is_dir()
    assert {entry["resource"] for entry in json.loads((out / "artifacts.json").read_text())} >= {
        "postgres-replica-1",
        "postgres-replica-2",
    }
    one = run_websys(*production, "--set", "postgres.replicas=1")
    assert one.returncode == 0, one.stderr
    resources = {entry["resource"] for entry in json.loads((out / "artifacts.json").read_text())}
    assert "postgres-replica-2" not in resources
    assert not (out / "postgres/replica-2").exists() or not any((out / "postgres/replica-2").iterdir())
