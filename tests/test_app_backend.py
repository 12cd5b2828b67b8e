"""The reference backend (app/backend) against a real PostgreSQL 15 and a real redis-server on
loopback, called as the WSGI application waitress serves in its image."""

from __future__ import annotations

import functools
import io
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websys_backend.api import Backend
from websys_backend.config import Config, ConfigError, setting
from websys_backend.store import Store

from monitoring import catalogue
from tests.live_servers import PostgresServer, free_port, running_postgres

REDIS_PASSWORD = "r3dis-Password"
JWT_SECRET = "j" * 48


class RedisServer:
    """redis-server on a free loopback port; its config (with the password) comes on stdin."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdin is not None
        self.process.stdin.write(
            f'port {self.port}\nbind 127.0.0.1\nrequirepass {REDIS_PASSWORD}\nsave ""\nappendonly no\n'
        )
        self.process.stdin.close()
        self.url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a", REDIS_PASSWORD, "ping"],
                capture_output=True, text=True, check=False, timeout=5,
            )  # fmt: skip
            if result.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("redis-server did not start within 20s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        server.create_database("websys_test")
        yield server


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def backend(postgres: PostgresServer, redis_server: RedisServer) -> Iterator[Backend]:
    store = Store(postgres.url("websys_test"), redis_server.url, cache_seconds=30)
    store.migrate()
    yield Backend(store, JWT_SECRET)
    with postgres.connect("websys_test") as connection:
        connection.execute("DROP TABLE IF EXISTS notes")
    store.cache.flushdb()


def request(app: Backend, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    payload = b"" if body is None else json.dumps(body).encode()
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(payload))}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(payload)
    if token is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    status: list[str] = []
    chunks = app(environ, lambda line, headers: status.append(line))
    data = b"".join(chunks)
    code = int(status[0].split()[0])
    return code, (json.loads(data) if data.startswith((b"{", b"[")) else data.decode())


def test_health_checks_postgres_and_redis(backend: Backend) -> None:
    assert request(backend, "GET", "/health") == (200, {"status": "ok", "postgres": "ok", "redis": "ok"})


def test_health_is_unavailable_when_redis_is_down(postgres: PostgresServer) -> None:
    closed = f"redis://:x@127.0.0.1:{free_port()}/0"
    app = Backend(Store(postgres.url("websys_test"), closed, cache_seconds=30), JWT_SECRET)
    code, body = request(app, "GET", "/health")
    assert code == 503
    assert body["status"] == "unavailable"
    assert body["postgres"] == "ok"
    assert body["redis"] == "ConnectionError"


def test_notes_are_written_to_postgres_and_read_through_the_cache(backend: Backend, postgres: PostgresServer) -> None:
    assert request(backend, "POST", "/api/notes", {"body": "no token"})[0] == 401
    code, session = request(backend, "POST", "/api/session", {"user": "alice"})
    assert code == 201
    code, note = request(backend, "POST", "/api/notes", {"body": " hello "}, token=session["token"])
    assert (code, note["author"], note["body"]) == (201, "alice", "hello")
    with postgres.connect("websys_test") as connection:
        assert connection.execute("SELECT author, body FROM notes").fetchall() == [("alice", "hello")]

    first = request(backend, "GET", "/api/notes")
    second = request(backend, "GET", "/notes")  # the same route on an API host of its own
    assert first[1]["cache"] == "miss"
    assert second[1]["cache"] == "hit"
    assert [n["body"] for n in first[1]["notes"]] == [n["body"] for n in second[1]["notes"]] == ["hello"]

    request(backend, "POST", "/api/notes", {"body": "second"}, token=session["token"])
    after = request(backend, "GET", "/api/notes")[1]  # a write empties the cache
    assert (after["cache"], [n["body"] for n in after["notes"]]) == ("miss", ["second", "hello"])


def test_bad_requests_get_one_line_errors(backend: Backend) -> None:
    token = request(backend, "POST", "/api/session", {"user": "bob"})[1]["token"]
    assert request(backend, "POST", "/api/session", {"user": "no spaces"})[0] == 400
    assert request(backend, "POST", "/api/notes", {"body": ""}, token=token)[0] == 400
    assert request(backend, "POST", "/api/notes", {"body": "x"}, token=token + "x")[0] == 401
    assert request(backend, "DELETE", "/api/notes")[0] == 405
    assert request(backend, "GET", "/api/nowhere") == (404, {"error": "no such route"})
    assert request(backend, "GET", "/api/metrics") == (404, {"error": "no such route"})  # internal only
    forged = Backend(backend.store, "f" * 48)
    forged_token = request(forged, "POST", "/api/session", {"user": "mallory"})[1]["token"]
    assert request(backend, "POST", "/api/notes", {"body": "x"}, token=forged_token)[0] == 401


def test_metrics_are_the_series_the_rules_and_dashboards_read(backend: Backend) -> None:
    request(backend, "GET", "/api/notes")
    request(backend, "GET", "/api/notes")
    request(backend, "GET", "/api/does-not-exist")
    request(backend, "POST", "/api/session", {"user": "carol"})
    code, text = request(backend, "GET", "/metrics")
    assert code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
        for sample in family.samples
    }
    names = {name for name, _ in samples}
    notes = (("method", "GET"), ("route", "/notes"), ("status_code", "200"))
    assert samples[("http_requests_total", notes)] == 2
    assert samples[("http_request_duration_seconds_count", notes)] == 2
    assert samples[("http_request_duration_seconds_bucket", (("le", "+Inf"), *notes))] == 2
    # An unknown path is one series, whatever the path: scans cannot create unbounded series.
    unknown = (("method", "GET"), ("route", "unknown"), ("status_code", "404"))
    assert samples[("http_requests_total", unknown)] == 1
    assert samples[("websys_active_users", ())] == 1
    # Everything the catalogue expects of a backend, except the Node runtime's own series.
    assert catalogue.BACKEND - names == {"nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes"}


def test_secrets_come_from_variables_or_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text(JWT_SECRET + "\n", encoding="utf-8")
    env = {"DATABASE_URL": "postgresql://db/x", "REDIS_URL_FILE": str(secret_file), "JWT_SECRET_FILE": str(secret_file)}
    config = Config.from_env(env)
    assert (config.jwt_secret, config.redis_url, config.port) == (JWT_SECRET, JWT_SECRET, 8000)
    with pytest.raises(ConfigError, match="both JWT_SECRET and JWT_SECRET_FILE"):
        setting({"JWT_SECRET": "a", "JWT_SECRET_FILE": str(secret_file)}, "JWT_SECRET")
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        Config.from_env({"JWT_SECRET": JWT_SECRET, "REDIS_URL": "redis://r"})
    with pytest.raises(ConfigError, match="JWT_SECRET_FILE: cannot read"):
        Config.from_env({"JWT_SECRET_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="shorter than 32"):
        Config.from_env({"JWT_SECRET": "short"})


def test_the_server_refuses_bad_config_with_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "websys_backend"],
        cwd=Path(__file__).parents[1] / "app" / "backend",
        env={"JWT_SECRET": JWT_SECRET, "REDIS_URL": "redis://r"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "websys-backend: DATABASE_URL is not set (nor DATABASE_URL_FILE)\n"


def test_schema_migration_is_idempotent(postgres: PostgresServer, redis_server: RedisServer) -> None:
    store = Store(postgres.url("websys_test"), redis_server.url, cache_seconds=30)
    store.migrate()
    store.migrate()
    with psycopg.connect(postgres.url("websys_test")) as connection:
        columns = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes' ORDER BY ordinal_position"
        ).fetchall()
    assert [c[0] for c in columns] == ["id", "author", "body", "created_at"]


def record_headers(into: list[list[tuple[str, str]]], status: str, headers: list[tuple[str, str]]) -> None:
    into.append(headers)


def test_every_response_names_the_replica_that_served_it(backend: Backend) -> None:
    for method, path in (("GET", "/api/health"), ("GET", "/no-such-route"), ("POST", "/api/notes")):
        headers: list[list[tuple[str, str]]] = []
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": "0"}
        setup_testing_defaults(environ)
        environ["wsgi.input"] = io.BytesIO(b"")
        backend(environ, functools.partial(record_headers, headers))
        assert dict(headers[0])["X-Served-By"] == socket.gethostname(), path
