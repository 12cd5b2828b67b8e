"""Every file a container of the stack runs with: its rendered text, the container resource that
receives it and the path it has there. `websys render` writes these; the components upload the
same renderers' output to the same target constants, and the tests compare the two through the plan.

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


def postgres_replica_resource(index: int) -> str:
    return f"postgres-replica-{index}"


@dataclass(frozen=True)
class Artifact:
    path: str | None  # relative to the render directory; None when the file holds a secret
    kind: str
    resource: str  # the Pulumi resource name of the container that runs with it
    target: str  # absolute path inside that container
    content: str | None  # None: a secret, never rendered outside the deployment

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


def postgres_artifacts(settings: Settings) -> list[Artifact]:
    """The primary (unless a replica was promoted, which removes it) and each replica, as
    components/postgres.py wires them: the same postgresql.conf and pg_hba.conf everywhere."""
    pg = settings.postgres
    conf = postgres.render_postgresql_conf(settings)
    hba = postgres.render_pg_hba(settings)

    def common(resource: str) -> list[Artifact]:
        return [
            Artifact("postgres/postgresql.conf", "postgresql", resource, postgres.POSTGRESQL_CONF, conf),
            Artifact("postgres/pg_hba.conf", "pg_hba", resource, postgres.PG_HBA_CONF, hba),
        ]

    found: list[Artifact] = []
    if not pg.promoted_replica:
        resource = POSTGRES_PRIMARY_RESOURCE
        init_name = PurePosixPath(postgres.INIT_SCRIPT).name
        found += [
            *common(resource),
            Artifact(
                f"postgres/primary/{init_name}",
                "postgres-init",
                resource,
                postgres.INIT_SCRIPT,
                postgres.render_primary_init(settings),
            ),
            _secret("password", resource, postgres.DATABASE_PASSWORD_FILE),
            _secret("password", resource, postgres.REPLICATION_PASSWORD_FILE),
        ]
    script_name = PurePosixPath(postgres.REPLICA_SCRIPT).name
    for index in range(1, pg.replicas + 1):
        resource = postgres_replica_resource(index)
        found += [
            *common(resource),
            Artifact(
                f"postgres/replica-{index}/{script_name}",
                "postgres-replica-bootstrap",
                resource,
                postgres.REPLICA_SCRIPT,
                postgres.render_replica_bootstrap(settings, index),
            ),
            _secret("password", resource, postgres.REPLICATION_PASSWORD_FILE),
        ]
    return found


def redis_artifacts(settings: Settings) -> list[Artifact]:
    return [
        Artifact("redis/redis.conf", "redis", REDIS_RESOURCE, redis.CONFIG_FILE, redis.render_redis_conf(settings)),
        _secret("redis-auth", REDIS_RESOURCE, redis.AUTH_FILE),
        _secret("password", REDIS_RESOURCE, redis.PASSWORD_FILE),
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
        *redis_artifacts(settings),
        *monitoring_artifacts(settings),
    ]
