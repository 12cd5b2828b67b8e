"""The reference frontend (app/frontend) and the healthcheck program every app image ships
(app/healthcheck/websys-healthcheck), served and run for real on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websys_frontend.server import make_server

from tests.live_servers import free_port

HEALTHCHECK = Path(__file__).parents[1] / "app" / "healthcheck" / "websys-healthcheck"


@pytest.fixture
def frontend() -> Iterator[str]:
    port = free_port()
    server = make_server(port, {"VITE_API_BASE_URL": "https://example.test/api/"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 loopback
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_the_page_and_its_script_are_served(frontend: str) -> None:
    status, ctype, page = get(f"{frontend}/")
    assert (status, ctype) == (200, "text/html")
    assert "<title>WebSys</title>" in page
    assert '<script src="app.js"></script>' in page
    status, ctype, script = get(f"{frontend}/app.js")
    assert status == 200
    assert ctype in ("text/javascript", "application/javascript")
    assert 'call("/notes")' in script


def test_the_api_address_comes_from_the_environment(frontend: str) -> None:
    status, ctype, body = get(f"{frontend}/config.json")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body) == {"apiBaseUrl": "https://example.test/api"}


def test_the_page_script_is_valid_javascript() -> None:
    script = Path(__file__).parents[1] / "app" / "frontend" / "websys_frontend" / "static" / "app.js"
    result = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def run_healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HEALTHCHECK), *args], capture_output=True, text=True, timeout=30, check=False)


def test_the_healthcheck_program_exits_0_only_for_a_2xx_answer(frontend: str) -> None:
    assert run_healthcheck(f"{frontend}/").returncode == 0
    missing = run_healthcheck(f"{frontend}/no-such-file")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    closed = run_healthcheck(f"http://127.0.0.1:{free_port()}/health")
    assert closed.returncode == 1
    usage = run_healthcheck("http://example.com/")
    assert usage.returncode == 2
    assert usage.stderr == "usage: websys-healthcheck http://127.0.0.1:PORT/PATH\n"


def test_every_response_names_the_replica_that_served_it(frontend: str) -> None:
    for path in ("/", "/config.json", "/app.js"):
        with urllib.request.urlopen(f"{frontend}{path}", timeout=10) as response:  # noqa: S310 loopback
            assert response.headers["X-Served-By"] == socket.gethostname(), path
