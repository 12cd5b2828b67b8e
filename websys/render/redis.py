"""redis.conf, and the small secret file it includes for `requirepass`.

The password never appears in redis.conf itself, so the rendered file holds nothing secret; the
container gets the password in a separate file (a secret upload) that redis.conf includes.
"""

from __future__ import annotations

from websys import naming
from websys.settings import Settings
from websys.settings.text import redis_quoted

CONFIG_FILE = "/usr/local/etc/redis/redis.conf"
AUTH_FILE = "/run/secrets/redis-auth.conf"
PASSWORD_FILE = "/run/secrets/redis-password"  # noqa: S105 a path, not a password
DATA_DIR = "/data"


def render_redis_conf(settings: Settings, *, auth_file: str = AUTH_FILE, data_dir: str = DATA_DIR) -> str:
    redis = settings.redis
    lines = [
        f"# redis.conf of websys-{settings.environment}: rendered from Pulumi.{settings.environment}.yaml",
        "# (websys:redis); do not edit it in the container.",
        "",
        "# Network: every interface of the container, which sits on the internal data network only.",
        "bind * -::*",
        f"port {naming.REDIS_PORT}",
        "protected-mode yes",
        "tcp-keepalive 300",
        "timeout 0",
        "daemonize no",
        'logfile ""',
        "loglevel notice",
        "",
        "# Authentication: `requirepass` comes from this secret file.",
        f"include {auth_file}",
        "",
        "# Durability: every write goes to the append-only file, fsynced as configured.",
        f"dir {data_dir}",
        "appendonly yes",
        f"appendfsync {redis.appendfsync}",
        'appendfilename "appendonly.aof"',
        'appenddirname "appendonlydir"',
        "aof-use-rdb-preamble yes",
        "auto-aof-rewrite-percentage 100",
        "auto-aof-rewrite-min-size 64mb",
        "aof-load-truncated yes",
        "# The AOF is the persistence: no RDB snapshots, so no second fork.",
        'save ""',
        "",
        "# Memory",
        f"maxmemory {redis.maxmemory_mb}mb",
        f"maxmemory-policy {redis.maxmemory_policy}",
        "",
    ]
    return "\n".join(lines)


def render_redis_auth(password: str) -> str:
    """The included file: `requirepass` with the password quoted for redis.conf."""
    return f"requirepass {redis_quoted(password)}\n"


def redis_healthcheck_command(password_file: str = PASSWORD_FILE, port: int = naming.REDIS_PORT) -> list[str]:
    """PING with the password, read from its file inside the container (REDISCLI_AUTH keeps it
    off the command line); healthy only on PONG."""
    script = (
        f'REDISCLI_AUTH="$(cat {password_file})" redis-cli --no-auth-warning -h 127.0.0.1 -p {port} ping | grep -q PONG'
    )
    return ["CMD-SHELL", script]
