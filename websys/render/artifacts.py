"""Every file a container of the stack runs with: its rendered text, the container resource that
receives it and the path it has there. `websys render` writes these; components/postgres.py and
components/redis.py upload these very files, monitoring uploads monitoring/files.py (included here)
and the edge uses the same renderers and path constants; tests/test_render.py compares the render
with the plan, both ways.

Files that hold a secret (passwords, Redis's `requirepass` include, receiver credentials, the TLS
key and certificate, which come from secret config or a generated key) are listed without content:
they exist only inside Pulumi's state and the container.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from monitoring import alertmanager
from monitoring.files import ALERTMANAGER_RESOURCE, monitoring_files
from websys.render import nginx, postgres, redis
from websys.settings import Settings

# The Pulumi resource names of the containers (component name in __main__.py, then the child).
POSTGRES_PRIMARY_RESOURCE = "postgres-primary"
REDIS_RESOURCE = "redis-server"
NGINX_RESOURCE = "proxy-nginx"
CONFIG_MODE = "0444"
SCRIPT_MODE = "0555"


def postgres_replica_resource(index: int) -> str:
    return f"postgres-replica-{index}"


@dataclass(frozen=True)
class Artifact:
    path: str | None  # relative to the render directory; None when the file holds a secret
    kind: str
    resource: str  # the Pulumi resource name of the container that runs with it
    target: str  # absolute path inside that container
    content: str | None  # None: a secret, never rendered outside the deployment
    mode: str | None = None  # the upload's permissions, where the component sets them

    @property
    def secret(self) -> bool:
        return self.content is None

    def record(self) -> dict[str, Any]:
        """The artifacts.json entry."""
        entry: dict[str, Any] = {"path": self.path, "kind": self.kind, "resource": self.resource, "target": self.target}
        if self.secret:
            entry["secret"] = True
        return entry


def _secret(kind: str, resource: str, target: str) -> Artifact:
    return Artifact(None, kind, resource, target, None)


def _postgres_config(settings: Settings, resource: str) -> list[Artifact]:
    """The same postgresql.conf and pg_hba.conf on every server."""
    return [
        Artifact(
            "postgres/postgresql.conf",
            "postgresql",
            resource,
            postgres.POSTGRESQL_CONF,
            postgres.render_postgresql_conf(settings),
            CONFIG_MODE,
        ),
        Artifact(
            "postgres/pg_hba.conf",
            "pg_hba",
            resource,
            postgres.PG_HBA_CONF,
            postgres.render_pg_hba(settings),
            CONFIG_MODE,
        ),
    ]


def postgres_primary_files(settings: Settings, resource: str = POSTGRES_PRIMARY_RESOURCE) -> list[Artifact]:
    """What components/postgres.py uploads to the primary, in its order."""
    return [
        *_postgres_config(settings, resource),
        Artifact(
            f"postgres/primary/{PurePosixPath(postgres.INIT_SCRIPT).name}",
            "postgres-init",
            resource,
            postgres.INIT_SCRIPT,
            postgres.render_primary_init(settings),
            SCRIPT_MODE,
        ),
        _secret("password", resource, postgres.DATABASE_PASSWORD_FILE),
        _secret("password", resource, postgres.BACKUP_PASSWORD_FILE),
        _secret("password", resource, postgres.REPLICATION_PASSWORD_FILE),
    ]


def postgres_replica_files(settings: Settings, index: int, resource: str | None = None) -> list[Artifact]:
    """What components/postgres.py uploads to replica `index`, in its order."""
    resource = resource or postgres_replica_resource(index)
    return [
        *_postgres_config(settings, resource),
        Artifact(
            f"postgres/replica-{index}/{PurePosixPath(postgres.REPLICA_SCRIPT).name}",
            "postgres-replica-bootstrap",
            resource,
            postgres.REPLICA_SCRIPT,
            postgres.render_replica_bootstrap(settings, index),
            SCRIPT_MODE,
        ),
        _secret("password", resource, postgres.REPLICATION_PASSWORD_FILE),
    ]


def postgres_artifacts(settings: Settings) -> list[Artifact]:
    """The primary (unless a replica was promoted, which removes it) and each replica."""
    pg = settings.postgres
    found = [] if pg.promoted_replica else postgres_primary_files(settings)
    for index in range(1, pg.replicas + 1):
        found += postgres_replica_files(settings, index)
    return found


def redis_files(settings: Settings, resource: str = REDIS_RESOURCE) -> list[Artifact]:
    """What components/redis.py uploads, in its order."""
    return [
        Artifact(
            "redis/redis.conf", "redis", resource, redis.CONFIG_FILE, redis.render_redis_conf(settings), CONFIG_MODE
        ),
        _secret("redis-auth", resource, redis.AUTH_FILE),
        _secret("password", resource, redis.PASSWORD_FILE),
    ]


def nginx_artifacts(settings: Settings) -> list[Artifact]:
    """The container starts with the bootstrap config; the rendered nginx.conf replaces it at the
    same path through the checked reload (components/proxy.py), as do the certificate and key."""
    return [
        Artifact("nginx/nginx.conf", "nginx", NGINX_RESOURCE, nginx.CONFIG_PATH, nginx.render_nginx(settings)),
        Artifact(
            "nginx/bootstrap.conf",
            "nginx-bootstrap",
            NGINX_RESOURCE,
            nginx.CONFIG_PATH,
            nginx.render_nginx_bootstrap(settings),
        ),
        _secret("tls-certificate", NGINX_RESOURCE, nginx.CERTIFICATE_PATH),
        _secret("tls-private-key", NGINX_RESOURCE, nginx.PRIVATE_KEY_PATH),
    ]


def monitoring_artifacts(settings: Settings) -> list[Artifact]:
    if not settings.monitoring.enabled:
        return []
    found = [Artifact(f.path, f.kind, f.resource, f.target, f.content) for f in monitoring_files(settings)]
    found += [
        _secret("alertmanager-credential", ALERTMANAGER_RESOURCE, f"{alertmanager.SECRETS_DIR}/{secret.name}")
        for secret in alertmanager.secret_files(settings)
    ]
    return found


def artifacts(settings: Settings) -> list[Artifact]:
    """All of them, in a stable order: nginx, data tier, monitoring."""
    return [
        *nginx_artifacts(settings),
        *postgres_artifacts(settings),
        *redis_files(settings),
        *monitoring_artifacts(settings),
    ]
