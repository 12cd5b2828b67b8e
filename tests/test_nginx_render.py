"""The rendered nginx.conf: what it says, and that Debian's nginx accepts it for every stack."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from monitoring.targets import grafana_name
from tests.edge_support import make_certificate, nginx_binary
from tests.planning import stack_settings
from websys.render.nginx import (
    CERTIFICATE_PATH,
    CONFIG_PATH,
    PRIVATE_KEY_PATH,
    TLS_CIPHERS,
    grafana_content_security_policy,
    render_nginx,
    render_nginx_bootstrap,
    upstream_servers,
)
from websys.settings import ENVIRONMENTS, Settings, SettingsError

GREEN_SETS = ["backend.green.replicas=3", "frontend.green.replicas=2", "deploy.activeColor=green"]


def container_nginx_t(config: str, settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `config` exactly as pushed into the container: at /etc/nginx/nginx.conf, with
    the certificate at its container path, an `nginx` user, and every replica name resolvable.
    All of it bind-mounted inside a private mount namespace; the host is not touched."""
    etc = tmp_path / "etc-nginx"
    (etc / "tls").mkdir(parents=True)
    shutil.copy("/etc/nginx/mime.types", etc / "mime.types")
    (etc / "nginx.conf").write_text(config)
    crt, key = make_certificate(tmp_path / "ca")
    shutil.copy(crt, etc / "tls" / Path(CERTIFICATE_PATH).name)
    shutil.copy(key, etc / "tls" / Path(PRIVATE_KEY_PATH).name)
    passwd, group, hosts, logs = tmp_path / "passwd", tmp_path / "group", tmp_path / "hosts", tmp_path / "logs"
    passwd.write_text(Path("/etc/passwd").read_text() + "nginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin\n")
    group.write_text(Path("/etc/group").read_text() + "nginx:x:101:\n")
    names = [
        server.rsplit(":", 1)[0]
        for service in ("backend", "frontend")
        for server in upstream_servers(settings, service)
    ]
    if settings.monitoring.enabled:
        names.append(grafana_name(settings.environment))  # nginx serves Grafana under its path
    hosts.write_text("127.0.0.1 localhost " + " ".join(names) + "\n")
    logs.mkdir()
    script = (
        'mount --bind "$1" /etc/nginx && mount --bind "$2" /etc/passwd && mount --bind "$3" /etc/group'
        ' && mount --bind "$4" /etc/hosts && mount --bind "$5" /var/log/nginx && exec "$6" -t -c "$7"'
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            str(etc),
            str(passwd),
            str(group),
            str(hosts),
            str(logs),
            nginx_binary(),
            CONFIG_PATH,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_stack_config_passes_nginx_t_as_deployed(stack: str, tmp_path: Path) -> None:
    settings = stack_settings(stack)
    result = container_nginx_t(render_nginx(settings), settings, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr  # nothing deprecated or ignored


def test_green_config_and_bootstrap_pass_nginx_t(tmp_path: Path) -> None:
    settings = stack_settings("production", GREEN_SETS)
    for name, config in (("green", render_nginx(settings)), ("bootstrap", render_nginx_bootstrap(settings))):
        result = container_nginx_t(config, settings, tmp_path / name)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert "[warn]" not in result.stderr


def test_nginx_t_catches_a_replica_name_that_does_not_resolve(tmp_path: Path) -> None:
    settings = stack_settings("staging")
    config = render_nginx(settings).replace("websys-staging-backend-blue-1:", "websys-staging-backend-blue-9:")
    result = container_nginx_t(config, settings, tmp_path)
    assert result.returncode != 0
    assert "host not found in upstream" in result.stderr


def _upstream_block(config: str, name: str) -> list[str]:
    match = re.search(rf"upstream {name} \{{(.*?)\}}", config, re.S)
    assert match, name
    return [line.strip() for line in match.group(1).strip().splitlines()]


def test_upstreams_list_every_replica_of_the_active_color_only() -> None:
    config = render_nginx(stack_settings("production", ["backend.green.replicas=3", "frontend.green.replicas=1"]))
    assert _upstream_block(config, "websys_backend") == [
        "server websys-production-backend-blue-1:8000 max_fails=2 fail_timeout=10s;",
        "server websys-production-backend-blue-2:8000 max_fails=2 fail_timeout=10s;",
        "server websys-production-backend-blue-3:8000 max_fails=2 fail_timeout=10s;",
        "keepalive 32;",
    ]
    assert "green" not in config
    switched = render_nginx(stack_settings("production", GREEN_SETS))
    backend = _upstream_block(switched, "websys_backend")
    assert [line.split()[1] for line in backend[:-1]] == [
        f"websys-production-backend-green-{i}:8000" for i in (1, 2, 3)
    ]
    assert "-blue-" not in switched
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in switched


def test_tls_after_mozilla_intermediate_and_no_version_disclosure() -> None:
    config = render_nginx(stack_settings("production"))
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in config
    assert f"ssl_ciphers {TLS_CIPHERS};" in config
    assert all(
        cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher) for cipher in TLS_CIPHERS.split(":")
    )
    assert "ssl_prefer_server_ciphers off;" in config
    assert "server_tokens off;" in config
    assert 'add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;' in config


def test_security_headers_on_every_server_and_no_legacy_xss_filter() -> None:
    config = render_nginx(stack_settings("staging"))
    servers = config.count("    server {")
    assert servers == 4  # redirect, app, api, status
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        # every public server, and Grafana's location (which must repeat them)
        assert config.count(f"add_header {header} ") == 4, header
    assert config.count('add_header X-XSS-Protection "0" always;') == 4
    assert "1; mode=block" not in config
    # An app cannot weaken them: its own copies are hidden.
    assert "proxy_hide_header X-Frame-Options;" in config
    assert "proxy_hide_header X-Powered-By;" in config


def test_csp_allows_a_separate_api_origin_and_can_be_configured() -> None:
    staging = render_nginx(stack_settings("staging"))
    assert "connect-src 'self' https://api-staging.websys.company.com;" in staging
    development = render_nginx(stack_settings("development"))
    assert "connect-src 'self';" in development
    assert "script-src 'self';" in development  # no 'unsafe-inline' for scripts, unlike the guide
    custom = render_nginx(stack_settings("development", ["proxy.contentSecurityPolicy=default-src 'none'"]))
    assert "add_header Content-Security-Policy \"default-src 'none'\" always;" in custom


def test_routes_health_status_and_redirect() -> None:
    config = render_nginx(stack_settings("staging"))
    assert "return 301 https://$host$request_uri;" in config
    assert "location /api/ {\n            proxy_pass http://websys_backend;" in config
    assert "location / {\n            proxy_pass http://websys_frontend;" in config
    health = re.search(r"location = /health \{(.*?)\}", config, re.S)
    assert health
    assert health.group(1).split() == ["access_log", "off;", "default_type", "text/plain;", "return", "200", '"ok\\n";']
    assert "server_name api-staging.websys.company.com;" in config
    assert "listen 8081;" in config
    assert "stub_status;" in config
    assert re.search(r"listen 8081;.*?deny all;.*?stub_status;", config, re.S)
    assert "listen 443 ssl default_server;" in config
    assert "listen 80 default_server;" in config


def _server_blocks(config: str) -> dict[str, str]:
    """The text of each HTTPS server, by server_name."""
    blocks = {}
    for block in config.split("    server {")[1:]:
        name = re.search(r"server_name (\S+);", block)
        if name and "ssl" in block.split("\n", 2)[1]:
            blocks[name.group(1)] = block
    return blocks


def test_grafana_is_served_under_its_path_on_the_frontend_domain_only() -> None:
    staging = render_nginx(stack_settings("staging"))
    blocks = _server_blocks(staging)
    assert set(blocks) == {"staging.websys.company.com", "api-staging.websys.company.com"}
    grafana = re.search(r"location /grafana/ \{(.*?)\n        \}", blocks["staging.websys.company.com"], re.S)
    assert grafana
    location = grafana.group(1)
    assert "proxy_pass http://websys-staging-grafana:3000;" in location  # the URI passes unchanged
    assert "proxy_set_header Upgrade $http_upgrade;" in location
    assert "proxy_set_header Connection $connection_upgrade;" in location
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in location
    assert f'add_header Content-Security-Policy "{grafana_content_security_policy()}" always;' in location
    # A location's own add_header drops the server's: every security header is repeated.
    server_level = blocks["staging.websys.company.com"].split("        location ")[0]
    assert location.count("add_header ") == server_level.count("add_header ") == 8
    assert "grafana" not in blocks["api-staging.websys.company.com"]
    without = render_nginx(stack_settings("development", ["monitoring.enabled=false"]))
    assert "grafana" not in without
    custom = render_nginx(stack_settings("production", ["monitoring.grafanaPath=/ops/grafana/"]))
    assert "location /ops/grafana/ {" in custom


def test_access_log_is_json_with_the_guides_fields() -> None:
    config = render_nginx(stack_settings("production"))
    line = next(line for line in config.splitlines() if "log_format websys_json" in line)
    assert "escape=json" in line
    for field in ("timestamp", "level", "ip_address", "user_agent", "result", "status", "request_id"):
        assert f'"{field}":' in line
    assert "access_log /var/log/nginx/access.log websys_json;" in config


def test_limits_come_from_settings() -> None:
    config = render_nginx(
        stack_settings(
            "production", ["proxy.clientMaxBodySizeMb=25", "proxy.readTimeoutSeconds=120", "proxy.maxFails=5"]
        )
    )
    assert "client_max_body_size 25m;" in config
    assert "proxy_read_timeout 120s;" in config
    assert "max_fails=5 fail_timeout=10s;" in config
    assert "gzip on;" in config


def test_the_renderer_is_deterministic() -> None:
    assert render_nginx(stack_settings("production")) == render_nginx(stack_settings("production"))


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ('proxy.contentSecurityPolicy=default-src "self"', 'websys:proxy.contentSecurityPolicy: must not contain "'),
        ("proxy.hstsMaxAgeSeconds=300", "websys:proxy.hstsMaxAgeSeconds: input should be greater than or equal to"),
        ("proxy.referrerPolicy=unsafe-url", "websys:proxy.referrerPolicy: input should be"),
        ("proxy.image=nginx", "websys:proxy.image: 'nginx' is not pinned"),
        ("proxy.statusPorts=9000", "websys:proxy.statusPorts: unknown key; did you mean 'statusPort'?"),
    ],
)
def test_bad_proxy_settings_are_one_line(assignment: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        stack_settings("production", [assignment])
    text = str(caught.value)
    assert text.startswith("Pulumi.production.yaml: ")
    assert message in text
    assert "\n" not in text
