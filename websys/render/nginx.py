"""nginx.conf for the edge: TLS, security headers, JSON access log, upstreams of the active color.

Every directive here is accepted by nginx 1.22 (Debian 12, which the tests run) and by the pinned
image (1.28); that is why HTTP/2 is off (`listen ... http2` is deprecated in 1.25.1+, and the
`http2` directive that replaces it does not exist in 1.22) and why upstream servers are resolved
when the configuration is loaded (the `resolve` parameter arrived in open-source nginx 1.27.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from monitoring.targets import GRAFANA_PORT, grafana_name
from websys import naming
from websys.settings import Settings
from websys.settings.text import nginx_quoted, nginx_token

# Mozilla's "intermediate" profile (TLSv1.2 and TLSv1.3), without its DHE suites: those need a
# dhparam file and only serve clients that also speak ECDHE. TLSv1.3 suites are not configurable
# through ssl_ciphers and are all AEAD.
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
TLS_CURVES = "X25519:prime256v1:secp384r1"

# Where the pushed files live inside the nginx container (see websys/edge).
CONFIG_PATH = "/etc/nginx/nginx.conf"
CERTIFICATE_PATH = "/etc/nginx/tls/websys.crt"
PRIVATE_KEY_PATH = "/etc/nginx/tls/websys.key"
STATUS_PATH = "/stub_status"
HEALTH_PATH = "/health"

BACKEND_UPSTREAM = "websys_backend"
FRONTEND_UPSTREAM = "websys_frontend"

# The guide's compliance log format (timestamp, level, ip_address, user_agent, result), plus the
# request's own facts. escape=json makes every line one valid JSON object.
ACCESS_LOG_FORMAT = (
    '{"timestamp":"$time_iso8601","level":"info","ip_address":"$remote_addr",'
    '"method":"$request_method","uri":"$request_uri","host":"$host","status":$status,'
    '"result":"$websys_result","bytes_sent":$body_bytes_sent,"request_time":$request_time,'
    '"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
    '"upstream_response_time":"$upstream_response_time","request_id":"$request_id",'
    '"user_agent":"$http_user_agent","referer":"$http_referer","tls_protocol":"$ssl_protocol"}'
)


@dataclass(frozen=True)
class NginxRuntime:
    """Where this nginx runs: the container's paths and ports by default. Tests that run Debian's
    nginx on loopback change these, never what the configuration does."""

    http_port: int = 80
    https_port: int = 443
    public_https_port: int = 443  # the port in redirects: what the browser connects to
    status_port: int | None = None  # None: settings.proxy.status_port
    user: str | None = "nginx"  # the official image's unprivileged worker user
    worker_processes: str = "auto"
    pid_path: str = "/var/run/nginx.pid"
    error_log: str = "/var/log/nginx/error.log"  # linked to the container's stderr by the image
    access_log: str = "/var/log/nginx/access.log"  # linked to stdout
    mime_types: str = "/etc/nginx/mime.types"
    temp_dir: str | None = None  # None: nginx's compiled-in temp paths
    certificate: str = CERTIFICATE_PATH
    private_key: str = PRIVATE_KEY_PATH


def upstream_servers(settings: Settings, service: str) -> list[str]:
    """host:port of every replica of the active color, named as the app component names them."""
    tier = settings.backend if service == "backend" else settings.frontend
    if settings.platform == "swarm":
        # One name: the service's virtual IP, balanced by Swarm over its healthy tasks.
        return [f"{naming.app_service(settings.environment, service)}:{tier.port}"]
    color = settings.active_color
    return [
        f"{naming.replica_name(settings.environment, service, color, index)}:{tier.port}"
        for index in range(1, tier.replicas(color) + 1)
    ]


def content_security_policy(settings: Settings) -> str:
    """The configured CSP, or one that allows the app's own origin and, if separate, the API's."""
    if settings.proxy.content_security_policy is not None:
        return settings.proxy.content_security_policy
    connect = ["'self'"]
    api_origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.api_base_url))
    if settings.domains.api != settings.domains.frontend:
        connect.append(api_origin)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def grafana_content_security_policy() -> str:
    """Grafana's pages need inline and eval'd scripts and inline styles (its own default CSP
    allows them too); everything else stays as strict as the app's."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: Settings, *, https: bool) -> list[tuple[str, str]]:
    """OWASP's recommended response headers. X-XSS-Protection is sent as 0: the auditor it once
    switched on is gone from browsers and `1; mode=block` could itself leak data (the guide's value)."""
    proxy = settings.proxy
    headers = [
        ("Content-Security-Policy", content_security_policy(settings)),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", proxy.referrer_policy),
        ("Permissions-Policy", proxy.permissions_policy),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("X-XSS-Protection", "0"),
    ]
    if https:
        headers.insert(0, ("Strict-Transport-Security", f"max-age={proxy.hsts_max_age_seconds}; includeSubDomains"))
    return headers


def _header_lines(settings: Settings, *, https: bool, indent: str, csp: str | None = None) -> list[str]:
    # `always`: also on error responses and on nginx's own (redirects, /health).
    return [
        f"{indent}add_header {name} "
        f"{nginx_quoted(csp if csp is not None and name == 'Content-Security-Policy' else value)} always;"
        for name, value in security_headers(settings, https=https)
    ]


def _proxy_header_lines(indent: str, connection: str = '""') -> list[str]:
    """What nginx tells every upstream; a location that sets its own must repeat them all."""
    headers = [
        ("Connection", connection),
        ("Host", "$host"),
        ("X-Real-IP", "$remote_addr"),
        ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
        ("X-Forwarded-Proto", "$scheme"),
        ("X-Request-ID", "$request_id"),
    ]
    return [f"{indent}proxy_set_header {name} {value};" for name, value in headers]


def _grafana_location(settings: Settings) -> list[str]:
    """Grafana under monitoring.grafanaPath (it serves from that sub-path itself), with its own CSP
    and WebSocket upgrades for Grafana Live. Its name resolves when the configuration is loaded."""
    indent = "            "
    return [
        "",
        f"        location {nginx_token(settings.monitoring.grafana_path)} {{",
        *_header_lines(settings, https=True, indent=indent, csp=grafana_content_security_policy()),
        *_proxy_header_lines(indent, connection="$connection_upgrade"),
        f"{indent}proxy_set_header Upgrade $http_upgrade;",
        f"{indent}proxy_pass http://{grafana_name(settings.environment)}:{GRAFANA_PORT};",
        "        }",
    ]


def _upstream(name: str, servers: list[str], settings: Settings) -> list[str]:
    proxy = settings.proxy
    lines = [f"    upstream {name} {{"]
    lines += [
        f"        server {s} max_fails={proxy.max_fails} fail_timeout={proxy.fail_timeout_seconds}s;" for s in servers
    ]
    lines += ["        keepalive 32;", "    }", ""]
    return lines


def _tls_server(settings: Settings, runtime: NginxRuntime, server_name: str, *, default: bool, app: bool) -> list[str]:
    """One HTTPS server. `app`: the frontend host (/ to the frontend, /api/ to the backend, /health
    by nginx); otherwise the API host, where everything goes to the backend."""
    default_flag = " default_server" if default else ""
    lines = [
        "    server {",
        f"        listen {runtime.https_port} ssl{default_flag};",
        f"        server_name {nginx_token(server_name)};",
        "",
        *_header_lines(settings, https=True, indent="        "),
        "",
    ]
    if app:
        lines += [
            f"        location = {HEALTH_PATH} {{",
            "            access_log off;",
            "            default_type text/plain;",
            '            return 200 "ok\\n";',
            "        }",
            "",
            "        location /api/ {",
            f"            proxy_pass http://{BACKEND_UPSTREAM};",
            "        }",
            "",
            "        location / {",
            f"            proxy_pass http://{FRONTEND_UPSTREAM};",
            "        }",
        ]
        if settings.monitoring.enabled:
            lines += _grafana_location(settings)
    else:
        lines += [
            "        location / {",
            f"            proxy_pass http://{BACKEND_UPSTREAM};",
            "        }",
        ]
    lines += ["    }", ""]
    return lines


def render_nginx(settings: Settings, runtime: NginxRuntime | None = None) -> str:
    """The whole nginx.conf for `settings`, routing to the replicas of the active color."""
    runtime = runtime or NginxRuntime()
    proxy = settings.proxy
    status_port = runtime.status_port if runtime.status_port is not None else proxy.status_port
    domains = settings.domains
    redirect_port = "" if runtime.public_https_port == 443 else f":{runtime.public_https_port}"

    lines = [
        f"# nginx.conf for websys-{settings.environment}: routes to the {settings.active_color} color.",
        "# Rendered by websys-infra (websys/render/nginx.py); applied by a checked reload, never edited here.",
    ]
    if runtime.user is not None:
        lines.append(f"user {runtime.user};")
    lines += [
        f"worker_processes {runtime.worker_processes};",
        f"pid {runtime.pid_path};",
        f"error_log {runtime.error_log} warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "http {",
        f"    include {runtime.mime_types};",
        "    default_type application/octet-stream;",
        "    server_tokens off;",
        "    sendfile on;",
        "    tcp_nopush on;",
        "",
    ]
    if runtime.temp_dir is not None:
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            lines.append(f"    {kind}_temp_path {runtime.temp_dir}/{kind};")
        lines.append("")
    lines += [
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        '' close;",
        "    }",
        "    map $status $websys_result {",
        "        ~^[23] success;",
        "        default failure;",
        "    }",
        f"    log_format websys_json escape=json '{ACCESS_LOG_FORMAT}';",
        f"    access_log {runtime.access_log} websys_json;",
        "",
        "    # Timeouts and sizes: slow or oversized clients are cut off rather than holding workers.",
        "    client_header_timeout 15s;",
        "    client_body_timeout 30s;",
        f"    client_max_body_size {proxy.client_max_body_size_mb}m;",
        f"    send_timeout {proxy.send_timeout_seconds}s;",
        f"    keepalive_timeout {proxy.keepalive_timeout_seconds}s;",
        "    reset_timedout_connection on;",
        "",
        "    gzip on;",
        "    gzip_vary on;",
        "    gzip_proxied any;",
        "    gzip_comp_level 5;",
        "    gzip_min_length 1024;",
        "    gzip_types text/plain text/css text/xml application/json application/javascript "
        "application/xml application/rss+xml image/svg+xml;",
        "",
        f"    ssl_protocols {TLS_PROTOCOLS};",
        f"    ssl_ciphers {TLS_CIPHERS};",
        "    ssl_prefer_server_ciphers off;",
        f"    ssl_ecdh_curve {TLS_CURVES};",
        "    ssl_session_cache shared:websys_tls:10m;",
        "    ssl_session_timeout 1d;",
        "    ssl_session_tickets off;",
        f"    ssl_certificate {runtime.certificate};",
        f"    ssl_certificate_key {runtime.private_key};",
        "",
        "    # To the replicas: a refused or timed-out connection, or a 502/503/504, is retried on the",
        "    # next replica, so one dead replica costs no failed request.",
        "    proxy_http_version 1.1;",
        *_proxy_header_lines("    "),
        f"    proxy_connect_timeout {proxy.connect_timeout_seconds}s;",
        f"    proxy_send_timeout {proxy.send_timeout_seconds}s;",
        f"    proxy_read_timeout {proxy.read_timeout_seconds}s;",
        "    proxy_next_upstream error timeout http_502 http_503 http_504;",
        f"    proxy_next_upstream_tries {proxy.next_upstream_tries};",
        f"    proxy_next_upstream_timeout {proxy.connect_timeout_seconds * proxy.next_upstream_tries + 5}s;",
        # nginx alone sets these; an app's own copy would make them ambiguous.
        *[
            f"    proxy_hide_header {name};"
            for name, _ in security_headers(settings, https=True)
            if name != "Strict-Transport-Security"
        ],
        "    proxy_hide_header Strict-Transport-Security;",
        "    proxy_hide_header X-Powered-By;",
        "",
    ]
    lines += _upstream(BACKEND_UPSTREAM, upstream_servers(settings, "backend"), settings)
    lines += _upstream(FRONTEND_UPSTREAM, upstream_servers(settings, "frontend"), settings)
    lines += [
        "    # Plain HTTP: a permanent redirect to HTTPS, nothing else.",
        "    server {",
        f"        listen {runtime.http_port} default_server;",
        "        server_name _;",
        *_header_lines(settings, https=False, indent="        "),
        f"        return 301 https://$host{redirect_port}$request_uri;",
        "    }",
        "",
    ]
    lines += _tls_server(settings, runtime, domains.frontend, default=True, app=True)
    if domains.api != domains.frontend:
        lines += _tls_server(settings, runtime, domains.api, default=False, app=False)
    lines += [
        "    # stub_status for the exporter and the container's healthcheck. This port is not",
        "    # published on the host; only private (container network) addresses may ask.",
        "    server {",
        f"        listen {status_port};",
        "        server_name _;",
        "        access_log off;",
        "        allow 127.0.0.0/8;",
        "        allow 10.0.0.0/8;",
        "        allow 172.16.0.0/12;",
        "        allow 192.168.0.0/16;",
        "        deny all;",
        f"        location = {STATUS_PATH} {{",
        "            stub_status;",
        "        }",
        f"        location = {HEALTH_PATH} {{",
        "            default_type text/plain;",
        '            return 200 "ok\\n";',
        "        }",
        "        location / {",
        "            return 404;",
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def render_nginx_bootstrap(settings: Settings, runtime: NginxRuntime | None = None) -> str:
    """What the nginx container starts with before the first checked reload: only the status
    port's /health (for the container's healthcheck), no public port. It depends on nothing that
    changes with a deploy, so it never forces the container to be replaced."""
    runtime = runtime or NginxRuntime()
    status_port = runtime.status_port if runtime.status_port is not None else settings.proxy.status_port
    lines = ["# Bootstrap: replaced by the rendered nginx.conf through a checked reload."]
    if runtime.user is not None:
        lines.append(f"user {runtime.user};")
    lines += [
        "worker_processes 1;",
        f"pid {runtime.pid_path};",
        f"error_log {runtime.error_log} warn;",
        "events {",
        "    worker_connections 64;",
        "}",
        "http {",
        "    server_tokens off;",
        "    access_log off;",
        "    server {",
        f"        listen {status_port};",
        f"        location = {HEALTH_PATH} {{",
        "            default_type text/plain;",
        '            return 200 "ok\\n";',
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)
