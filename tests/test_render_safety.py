"""Property-based: any value the settings accept renders to a file its real reader accepts, with the
meaning intended, and a value they refuse is refused by the rule of websys.settings.text for its
target language. Judged by the real programs: nginx (live, on loopback), node, amtool, promtool
and PostgreSQL 15. Bounded: few examples each, and the servers are started once per module."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitoring.alertmanager import render_alertmanager_config
from tests.edge_support import LiveEdge
from tests.live_servers import PG_BINDIR, PostgresServer, free_port, running_postgres
from tests.monitoring_support import render_into, run, tool
from tests.planning import stack_settings
from tests.test_redis_live import RedisServer
from websys.app_env import healthcheck_command
from websys.render.nginx import render_nginx
from websys.render.postgres import render_pg_hba, render_primary_init
from websys.render.redis import render_redis_auth, render_redis_conf
from websys.settings import SettingsError
from websys.settings.text import (
    SQL_RESERVED,
    UnsafeValueError,
    header_value_problem,
    js_string,
    nginx_quoted,
    password_problem,
    redis_quoted,
    sql_name_problem,
    template_text_problem,
    url_path_problem,
)

pytestmark = pytest.mark.timeout(300)
BOUNDED = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

# Text with the characters that are syntax somewhere: quotes, `$`, braces, `;`, `#`, backslash,
# backtick, newlines and other controls, non-ASCII.
NASTY = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 -_=;:,'\"$\\{}()#`/\n\r\t\x00é{}<>*?%.@!&+~")), min_size=0, max_size=24
)


def yaml_value(value: str) -> str:
    """A --set value that YAML reads back as exactly this string (JSON is a YAML flow scalar)."""
    return json.dumps(value)


# --- nginx: response headers, live ------------------------------------------------------------------
@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEdge]:
    live = LiveEdge(tmp_path_factory.mktemp("edge-safety"), replicas_per_color=1)
    try:
        live.start()
        live.activate("blue")
        yield live
    finally:
        live.stop()


@BOUNDED
@given(value=st.one_of(NASTY, st.sampled_from(["default-src 'self'; img-src data:", "default-src $http_x_evil"])))
@example(value="default-src 'self'; script-src 'self' 'nonce-abc'; img-src * data:")
@example(value="default-src 'self' $http_x_evil")
def test_a_header_value_is_sent_exactly_as_set_or_refused(edge: LiveEdge, value: str) -> None:
    if header_value_problem(value) is not None:
        with pytest.raises(SettingsError, match=r"websys:proxy.contentSecurityPolicy: "):
            edge.settings("blue", [f"proxy.contentSecurityPolicy={yaml_value(value)}"])
        return
    result = edge.push(edge.render("blue", [f"proxy.contentSecurityPolicy={yaml_value(value)}"]))
    assert result.returncode == 0, result.stderr  # push-config.sh runs nginx -t first
    # A reload is graceful: old workers finish their connections first, so wait for the new ones.
    edge.wait_until(lambda: edge.get("/health").headers.get("content-security-policy") == value, "the new header")
    response = edge.get("/health")
    assert response.ok, response.error
    assert response.headers["content-security-policy"] == value


def test_nginx_quoting_refuses_what_would_be_syntax() -> None:
    for value in ['a"b', "a\\b", "$host", "a\nb", ""]:
        with pytest.raises(UnsafeValueError):
            nginx_quoted(value)


def test_a_request_header_never_reaches_the_csp(edge: LiveEdge) -> None:
    """The attack of a live `$http_...` variable: refused, so the served CSP is the configured one."""
    with pytest.raises(SettingsError, match=r"must not contain \$"):
        edge.settings("blue", ["proxy.contentSecurityPolicy=default-src 'self' $http_x_evil"])
    text = render_nginx(edge.settings("blue"), edge.runtime)
    assert all("$" not in line for line in text.splitlines() if "add_header" in line)


# --- JavaScript: the healthcheck run by `node -e` -------------------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        # The request line as sent: the stdlib rewrites a leading '//' in self.path.
        type(self).paths.append(self.requestline.split(" ")[1])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def probe_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _run_probe(command: list[str], cwd: Path) -> int:
    assert command[:3] == ["CMD", "node", "-e"]
    return subprocess.run(["node", "-e", command[3]], cwd=cwd, capture_output=True, timeout=30, check=False).returncode


URL_PATHS = st.one_of(
    NASTY.map(lambda text: "/" + text),
    st.from_regex(r"/[a-z0-9._~%:@!&=+,;-]{0,12}(/[a-zA-Z0-9-]{0,6}){0,2}(\?[a-z=&]{0,8})?", fullmatch=True),
)


@BOUNDED
@given(path=URL_PATHS)
@example(path="/health;v=1?probe=1&x=%2F")
@example(path="/health')+require('child_process').execSync('id')+('")
def test_a_healthcheck_path_is_requested_exactly_or_refused(
    probe_server: http.server.ThreadingHTTPServer, path: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if url_path_problem(path) is not None:
        with pytest.raises(SettingsError, match=r"websys:backend.healthcheck.path: "):
            stack_settings("development", [f"backend.healthcheck.path={yaml_value(path)}"])
        return
    stack_settings("development", [f"backend.healthcheck.path={yaml_value(path)}"])
    port = probe_server.server_address[1]
    _Recorder.paths.clear()
    cwd = tmp_path_factory.mktemp("probe")
    assert _run_probe(healthcheck_command(int(port), path), cwd) == 0
    assert _Recorder.paths == [path]


def test_nothing_injected_into_node_runs_even_past_the_settings(tmp_path: Path) -> None:
    """The renderer quotes by itself: a path that never went through the settings still cannot
    run code (here: write a file) in `node -e`."""
    marker = tmp_path / "injected"
    for path in (
        f"/x');require('fs').writeFileSync('{marker}','1');('",
        f'/x");require("fs").writeFileSync("{marker}","1");("',
        f"/x`+require('fs').writeFileSync('{marker}','1')+`",
        f"/x\\');require('fs').writeFileSync('{marker}','1');//",
        f"/x\u2028require('fs').writeFileSync('{marker}','1')",
    ):
        _run_probe(healthcheck_command(9, path), tmp_path)
        assert not marker.exists(), path
    assert json.loads(js_string("a'\"\\\u2028<")) == "a'\"\\\u2028<"


# --- Alertmanager (YAML with Go templates): amtool, and the value read back ------------------------
EMAILS = st.one_of(
    st.from_regex(r"[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,8}\.[a-z]{2,4}", fullmatch=True),
    NASTY.map(lambda text: f"{text}@example.com"),
)


@BOUNDED
@given(to=EMAILS, username=st.one_of(st.from_regex(r"[a-z0-9@._-]{1,12}", fullmatch=True), NASTY))
@example(to="ops+alerts@example.co.jp", username="mailer@example.com")
@example(to="{{ .CommonLabels.x }}@example.com", username="")
@example(to="ops@example.com", username="{{ .x }}")
def test_an_alert_receiver_renders_to_a_config_amtool_accepts_with_the_same_values(
    to: str, username: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    receiver = {"to": to, "sender": "alertmanager@example.com", "smarthost": "smtp.example.com:587"}
    if username:
        receiver["authUsername"] = username
    sets = [f"monitoring.receivers.email={json.dumps(receiver)}"]
    secrets = ["alertEmailPassword=a-password-for-smtp"]
    mailbox = re.fullmatch(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", to)
    if mailbox is None or (username and template_text_problem(username) is not None):
        with pytest.raises(SettingsError, match=r"websys:monitoring\.receivers\.email"):
            stack_settings("staging", sets, secrets)
        return
    settings = stack_settings("staging", sets, secrets)
    directory = tmp_path_factory.mktemp("am")
    path = directory / "alertmanager.yml"
    path.write_text(render_alertmanager_config(settings, str(directory)))
    (directory / "email-password").write_text("x")
    checked = run(tool("amtool"), "check-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    document = yaml.safe_load(path.read_text())
    emails = [c for r in document["receivers"] for c in r.get("email_configs", [])]
    assert emails
    assert all(c["to"] == to for c in emails)
    assert all(c.get("auth_username") == (username or None) for c in emails)
    assert "{{" not in to + username


# --- Prometheus rules: promtool checks them and their unit tests pass ------------------------------
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    cpu=st.floats(min_value=1, max_value=98, allow_nan=False).map(lambda v: round(v, 2)),
    memory=st.floats(min_value=1, max_value=98, allow_nan=False).map(lambda v: round(v, 2)),
    lag=st.integers(min_value=2, max_value=3600),
)
def test_any_accepted_thresholds_give_rules_promtool_accepts_and_whose_tests_pass(
    cpu: float, memory: float, lag: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = stack_settings(
        "development",
        [
            f"monitoring.thresholds.cpuPercent={cpu}",
            f"monitoring.thresholds.memoryPercent={memory}",
            f"monitoring.thresholds.replicationLagSeconds={lag}",
        ],
    )
    directory = tmp_path_factory.mktemp("prom")
    render_into(directory, settings)
    prometheus = directory / "prometheus"
    checked = run(tool("promtool"), "check", "config", "prometheus.yml", cwd=prometheus)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(tool("promtool"), "test", "rules", "tests/websys.rules.test.yml", cwd=prometheus)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- SQL and pg_hba.conf: PostgreSQL 15 runs the rendered init and parses the rendered pg_hba ------
@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def test_the_reserved_word_list_is_postgres_own(postgres: PostgresServer) -> None:
    listed = _psql(postgres, "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == SQL_RESERVED


SQL_NAMES = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9_]{2,20}", fullmatch=True),
    st.sampled_from(["select", "user", "all", "replication", "public", "pg_x", "table", "analyse", "samerole"]),
    NASTY,
)


def _psql(server: PostgresServer, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PG_BINDIR / "psql"), "-X", "-A", "-t", "-h", str(server.root), "-p", str(server.port), "-U", "postgres",
         "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(name=SQL_NAMES, user=SQL_NAMES)
@example(name="websys_db_x", user="app_user")
@example(name="order_db", user="analyst")
@example(name="replication", user="app")
def test_accepted_names_create_exactly_that_database_and_role(
    postgres: PostgresServer, name: str, user: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sets = [f"database.name={yaml_value(name)}", f"database.user={yaml_value(user)}"]
    if sql_name_problem(name) is not None or sql_name_problem(user) is not None or user in ("postgres", "replicator"):
        with pytest.raises(SettingsError, match=r"websys:database\.(name|user): "):
            stack_settings("development", sets)
        return
    settings = stack_settings("development", sets)
    directory = tmp_path_factory.mktemp("pg")
    for file in ("app", "replication"):
        (directory / file).write_text("a-password\n")
    os.chmod(directory, 0o755)  # noqa: S103 psql runs as this test's user; the files are throwaway
    script = directory / "init.sh"
    script.write_text(render_primary_init(settings))
    environment = {
        "PATH": f"{PG_BINDIR}:{os.environ['PATH']}",
        "PGHOST": str(postgres.root),
        "PGPORT": str(postgres.port),
        "WEBSYS_DATABASE_PASSWORD_FILE": str(directory / "app"),
        "WEBSYS_REPLICATION_PASSWORD_FILE": str(directory / "replication"),
    }
    try:
        done = subprocess.run(
            ["sh", str(script)], env=environment, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        # `name` passed the settings' SQL name rule: letters, digits and _ only.
        owner = _psql(postgres, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'")  # noqa: S608
        assert owner.stdout.strip() == user, owner.stderr
        # pg_hba.conf: PostgreSQL's own parser reads the rendered file (pg_hba_file_rules reads the
        # file named by hba_file, which is swapped in and restored without a reload).
        hba = Path(_psql(postgres, "SHOW hba_file").stdout.strip())
        original = hba.read_bytes()
        try:
            hba.write_text(render_pg_hba(settings))
            rules = _psql(
                postgres, "SELECT database, user_name, address, error FROM pg_hba_file_rules WHERE type = 'host'"
            )
        finally:
            hba.write_bytes(original)
        rows = [line.split("|") for line in rules.stdout.strip().splitlines()]
        assert [row[3] for row in rows] == [""] * len(rows), rules.stdout
        assert [f"{{{name}}}", f"{{{user}}}"] in [row[:2] for row in rows], rows
    finally:
        _psql(postgres, f'DROP DATABASE IF EXISTS "{name}"')
        _psql(postgres, f'DROP ROLE IF EXISTS "{user}"')
        _psql(postgres, 'DROP ROLE IF EXISTS "replicator"')


# --- redis.conf: the included requirepass file, read by a real redis-server ------------------------
PASSWORDS = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=24),
    st.sampled_from(['a"b', "a\\b", "x\nrename-command FLUSHALL hacked", 'p" \nrequirepass "', "  spaced  "]),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=PASSWORDS)
@example(password="a\"b\\c'$(id) #;")
def test_an_accepted_redis_password_is_the_password_redis_requires(password: str) -> None:
    if password_problem(password) is not None:
        with pytest.raises(SettingsError, match=r"websys:redisPassword: must be printable"):
            stack_settings("development", secrets=[f"redisPassword={password}"])
        return
    settings = stack_settings("development", secrets=[f"redisPassword={password}"])
    assert settings.redis_password is not None
    root = Path(tempfile.mkdtemp(prefix="websys-safety-redis-"))
    server: RedisServer | None = None
    try:
        (root / "data").mkdir()
        auth = root / "redis-auth.conf"
        auth.write_text(render_redis_auth(settings.redis_password.get_secret_value()))
        config = root / "redis.conf"
        config.write_text(render_redis_conf(settings, auth_file=str(auth), data_dir=str(root / "data")))
        server = RedisServer(settings, root, config, free_port(), password)
        server.start()
        assert server.cli("PING", password=password).stdout.strip() == "PONG"
        assert "NOAUTH" in server.cli("PING").stdout
        assert server.cli("PING", password=password + "x").stdout.strip() != "PONG"
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_redis_quoting_keeps_a_newline_inside_the_argument(tmp_path: Path) -> None:
    """Past the settings (a password that was never validated): still one directive."""
    quoted = redis_quoted("x\nrename-command FLUSHALL hacked")
    assert "\n" not in quoted
    assert quoted == '"x\\x0arename-command FLUSHALL hacked"'
