"""Debian's nginx on loopback with the rendered config: TLS, headers, and blue/green under load.

Every configuration change goes through the deployment's own push script (stage, `nginx -t`,
reload); see tests/edge_support.py for how replica names resolve to local test replicas.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge_support import LiveEdge, Load, PushResult, Response, make_certificate, run_load
from websys.settings import COLORS, Color

# Bounded: each test, fixture included, must end within this many seconds.
pytestmark = [pytest.mark.timeout(180), pytest.mark.live]

# Switches back and forth under load, each followed by SETTLE responses before the next.
SWITCHES = 30
SETTLE = 25
SWITCH_CLIENTS = 8
FAILOVER_LOAD = 2400
STOP_LOAD = 900
REQUIRED_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-xss-protection": "0",
}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEdge]:
    live = LiveEdge(tmp_path_factory.mktemp("edge"))
    try:
        live.start()
        live.activate("blue")
        yield live
    finally:
        live.stop()


def header_problems(response: Response) -> list[str]:
    problems = [
        f"{name}: {response.headers.get(name)!r}"
        for name, value in REQUIRED_HEADERS.items()
        if response.headers.get(name) != value
    ]
    for name in ("content-security-policy", "permissions-policy"):
        if not response.headers.get(name):
            problems.append(f"{name} missing")
    if "x-powered-by" in response.headers:
        problems.append("x-powered-by leaked from the replica")
    if response.headers.get("server") != "nginx":
        problems.append(f"server: {response.headers.get('server')!r}")
    return problems


def s_client(edge: LiveEdge, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{edge.https_port}", "-servername", "localhost", *options],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused_by_the_server(edge: LiveEdge, version: str) -> None:
    # SECLEVEL=0 lets this client offer the old protocol, so the refusal is the server's.
    result = s_client(edge, version, "-cipher", "DEFAULT@SECLEVEL=0")
    assert result.returncode != 0
    assert "alert protocol version" in result.stdout + result.stderr


@pytest.mark.parametrize(("version", "protocol"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_succeed(edge: LiveEdge, version: str, protocol: str) -> None:
    result = s_client(edge, version, "-CAfile", str(edge.certificate), "-verify_return_error")
    assert result.returncode == 0, result.stderr
    assert f"Protocol  : {protocol}" in result.stdout or f"New, {protocol}," in result.stdout
    assert "Verify return code: 0 (ok)" in result.stdout


def test_only_the_intermediate_ciphers_are_offered_with_tls_1_2(edge: LiveEdge) -> None:
    # A CBC suite that an ECDSA certificate could serve, but which Mozilla's list leaves out.
    refused = s_client(edge, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
    assert refused.returncode != 0
    assert "handshake failure" in refused.stdout + refused.stderr
    accepted = s_client(edge, "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", "-CAfile", str(edge.certificate))
    assert accepted.returncode == 0, accepted.stderr
    assert "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" in accepted.stdout


def test_plain_http_is_redirected_to_https(edge: LiveEdge) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", edge.http_port, timeout=5)
    try:
        connection.request("GET", "/api/items?page=2", headers={"Host": "localhost"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 301
    assert response.getheader("Location") == f"https://localhost:{edge.https_port}/api/items?page=2"
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("Strict-Transport-Security") is None  # only over HTTPS


def test_routes_and_headers_on_every_kind_of_response(edge: LiveEdge) -> None:
    edge.activate("blue")
    health = edge.get("/health")
    assert (health.status, health.body) == (200, b"ok\n")  # nginx itself
    frontend = json.loads(edge.get("/").body)
    backend = json.loads(edge.get("/api/items").body)
    assert (frontend["service"], frontend["color"]) == ("frontend", "blue")
    assert (backend["service"], backend["color"], backend["path"]) == ("backend", "blue", "/api/items")
    for response in (health, edge.get("/"), edge.get("/api/items")):
        assert header_problems(response) == []
    # nginx's own error pages carry them too: a body over clientMaxBodySizeMb is refused with 413.
    connection = http.client.HTTPSConnection("127.0.0.1", edge.https_port, context=edge.tls_context(), timeout=5)
    try:
        connection.putrequest("POST", "/api/upload", skip_host=True)
        connection.putheader("Host", "localhost")
        connection.putheader("Content-Length", str(50 * 1024 * 1024))
        connection.endheaders()
        reply = connection.getresponse()
        too_large = Response(False, reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
    finally:
        connection.close()
    assert too_large.status == 413
    assert header_problems(too_large) == []


def test_stub_status_is_served_on_the_internal_port_only(edge: LiveEdge) -> None:
    status, body = edge.status("/stub_status")
    assert status == 200
    assert body.startswith("Active connections:")
    public = edge.get("/stub_status")
    assert b"Active connections" not in public.body  # the public port routes it to the frontend


def test_grafana_is_proxied_under_its_path_with_its_own_csp(edge: LiveEdge) -> None:
    response = edge.get("/grafana/api/health")
    assert response.status == 200
    body = json.loads(response.body)
    assert (body["service"], body["path"]) == ("grafana", "/grafana/api/health")  # the path unchanged
    assert header_problems(response) == []
    assert "'unsafe-eval'" in response.headers["content-security-policy"]
    assert "'unsafe-eval'" not in edge.get("/").headers["content-security-policy"]


def test_a_broken_config_is_refused_and_blue_keeps_serving(edge: LiveEdge) -> None:
    edge.activate("blue")
    before = edge.config_path.read_text()
    broken = edge.render("green").replace("proxy_next_upstream_tries", "proxy_next_upstream_triess")
    result = edge.push(broken)
    assert result.returncode == 1
    assert 'unknown directive "proxy_next_upstream_triess"' in result.stderr  # nginx's own words
    assert "the running one keeps serving" in result.stderr
    assert edge.config_path.read_text() == before
    # A valid file naming a replica that does not exist is refused the same way.
    missing = edge.push(edge.render("green", ["backend.green.replicas=4"]))
    assert missing.returncode == 1
    assert "host not found in upstream" in missing.stderr
    assert edge.config_path.read_text() == before
    responses = [edge.get(path) for path in ("/", "/api/items") * 10]
    assert all(r.ok and r.color == "blue" for r in responses)


def test_a_bad_key_or_no_certificate_changes_nothing(edge: LiveEdge, tmp_path: Path) -> None:
    edge.activate("blue")
    files = [edge.config_path, Path(edge.runtime.certificate), Path(edge.runtime.private_key)]
    before = [f.read_bytes() for f in files]
    _, other_key = make_certificate(tmp_path)  # a key that does not belong to the certificate
    mismatch = edge.push(edge.render("green"), WEBSYS_TLS_PRIVATE_KEY=other_key.read_text())
    assert mismatch.returncode == 1
    assert "key values mismatch" in mismatch.stderr
    assert other_key.read_text().splitlines()[1] not in mismatch.stderr + mismatch.stdout
    missing = edge.push(edge.render("green"), WEBSYS_REFUSE="no TLS certificate for production: set it")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "push-config (nginx): no TLS certificate for production: set it"
    assert [f.read_bytes() for f in files] == before
    assert not [f for f in Path(edge.runtime.certificate).parent.iterdir() if f.name.endswith(".next")]
    assert all(edge.get(path).color == "blue" for path in ("/", "/api/items") * 5)


def test_thirty_switches_under_load_send_no_new_request_to_the_old_color(edge: LiveEdge) -> None:
    """Once a push returns, every request started after it is served by the color it switched to:
    nginx-apply.sh waits until no worker of the previous configuration accepts."""
    edge.activate("blue")
    colors: list[Color] = ["green", "blue"] * (SWITCHES // 2)
    configs = {color: edge.render(color) for color in COLORS}
    pushes: list[tuple[Color, PushResult]] = []
    still_accepting: list[int] = []
    with Load(edge, threads=SWITCH_CLIENTS) as load:
        load.wait_for(SETTLE)
        for color in colors:
            before = edge.workers()
            pushes.append((color, edge.push(configs[color])))
            after = edge.workers()
            # No worker of the previous configuration may still accept (its title says when it stops).
            still_accepting += [pid for pid in before if pid in after and "shutting down" not in after[pid]]
            load.wait_for(SETTLE, started_after=pushes[-1][1].finished)
    edge.active = colors[-1]
    assert [(color, p.returncode, p.stderr) for color, p in pushes if p.returncode] == []
    assert still_accepting == [], "old workers still accepted when the push returned"
    responses = load.responses()
    assert [r.error or r.status for r in responses if not r.ok] == []
    # Between the return of push i and the start of push i+1, only push i's color may answer.
    wrong: list[tuple[int, str, str | None]] = []
    for i, (color, push) in enumerate(pushes):
        until = pushes[i + 1][1].started if i + 1 < len(pushes) else float("inf")
        window = [r for r in responses if push.finished < r.started < until]
        assert len(window) >= SETTLE
        wrong += [(i, color, r.color) for r in window if r.color != color]
    assert wrong == [], "responses started after a push returned came from the old color"
    assert [p for r in responses if (p := header_problems(r))] == []
    times = [push.switch_ms() for _, push in pushes]
    assert all(drained is not None and drained < 10_000 for _, drained in times), times


def test_the_old_color_stopped_as_soon_as_the_push_returns_loses_no_request(edge: LiveEdge) -> None:
    edge.activate("blue")
    old = [r for r in edge.replicas if r.color == "blue"]
    assert {r.service for r in old} == {"frontend", "backend"}
    pushes: list[PushResult] = []

    def switch_and_stop_blue() -> None:
        pushes.append(edge.push(edge.render("green")))
        for replica in old:  # SIGKILL: harsher than `docker stop`, which lets a replica finish
            replica.kill()

    try:
        load = run_load(edge, STOP_LOAD, switch_and_stop_blue, action_after=STOP_LOAD // 3)
        edge.active = "green"
        assert pushes[0].returncode == 0, pushes[0].stderr
        assert [r.error or r.status for r in load.failures] == []
        assert {r.color for r in load.responses if r.started > pushes[0].finished} == {"green"}
        assert pushes[0].switch_ms()[1] is not None, pushes[0].stdout  # old workers had finished
    finally:
        for replica in old:
            replica.start()


def test_a_dead_replica_of_the_active_color_costs_no_request(edge: LiveEdge) -> None:
    edge.activate("green")
    victims = [r for r in edge.replicas if r.color == "green" and r.index == 1]
    assert {r.service for r in victims} == {"frontend", "backend"}

    def kill() -> None:
        for replica in victims:
            replica.kill()

    try:
        load = run_load(edge, FAILOVER_LOAD, kill, action_after=FAILOVER_LOAD // 3)
        assert [r.error or r.status for r in load.failures] == []
        served_after = {
            (body["service"], body["replica"])
            for r in load.responses
            if r.started > load.action_finished + 0.2
            for body in [json.loads(r.body)]
        }
        assert served_after == {("frontend", 2), ("backend", 2)}
        assert {r.color for r in load.responses} == {"green"}
    finally:
        for replica in victims:
            replica.start()


def test_access_log_lines_are_json(edge: LiveEdge) -> None:
    # nginx writes the access-log line when it finalizes the request, which can be after the client
    # has read the response: wait (bounded) for this request's line rather than read the last line.
    uri = f"/api/items?x={uuid.uuid4().hex}"
    edge.get(uri)
    log = Path(edge.runtime.access_log)

    def logged() -> bool:
        return any(json.loads(line)["uri"] == uri for line in log.read_text().splitlines())

    edge.wait_until(logged, f"the access-log line of {uri}", timeout=10)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) > 10
    for entry in entries[-20:]:
        assert entry["level"] == "info"
        assert isinstance(entry["status"], int)
        assert entry["result"] in ("success", "failure")
        assert {"timestamp", "ip_address", "user_agent", "request_id", "upstream_addr"} <= entry.keys()
    (mine,) = [entry for entry in entries if entry["uri"] == uri]
    assert mine["tls_protocol"] in ("TLSv1.2", "TLSv1.3")
    assert mine["status"] == 200
