"""What Prometheus scrapes, derived from the settings and the shared container names (never typed by hand).

Every target names the container Prometheus connects to and, for exporters, the container the
exporter watches; the plan tests hold both to the containers the program actually creates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from websys import naming
from websys.settings import COLORS, Settings

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
NODE_EXPORTER_PORT = 9100
CADVISOR_PORT = 8080
POSTGRES_EXPORTER_PORT = 9187
REDIS_EXPORTER_PORT = 9121
NGINX_EXPORTER_PORT = 9113


def prometheus_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-prometheus"


def alertmanager_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-alertmanager"


def grafana_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-grafana"


def node_exporter_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-node-exporter"


def cadvisor_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-cadvisor"


def redis_exporter_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-redis-exporter"


def nginx_exporter_name(environment: str) -> str:
    return f"{naming.prefix(environment)}-nginx-exporter"


def postgres_exporter_name(environment: str, server: str) -> str:
    """One exporter per PostgreSQL server; `server` is `primary` or `replica-<i>`."""
    return f"{naming.prefix(environment)}-postgres-exporter-{server}"


def backup_name(environment: str) -> str:
    """The backup job's container, which serves its metrics."""
    return f"{naming.prefix(environment)}-backup"


@dataclass(frozen=True)
class PostgresServer:
    """One PostgreSQL server and the exporter that watches it."""

    role: str  # "primary" or "replica"
    container: str  # the PostgreSQL container (naming.postgres_primary / postgres_replica)
    exporter: str  # the postgres_exporter container


def postgres_servers(settings: Settings) -> list[PostgresServer]:
    env = settings.environment
    servers = [PostgresServer("primary", naming.postgres_primary(env), postgres_exporter_name(env, "primary"))]
    for index in range(1, settings.postgres.replicas + 1):
        servers.append(
            PostgresServer(
                "replica", naming.postgres_replica(env, index), postgres_exporter_name(env, f"replica-{index}")
            )
        )
    return servers


@dataclass(frozen=True)
class Target:
    """One scrape target: the container Prometheus connects to, and what it watches."""

    host: str  # a container name, resolved by Docker's DNS on a shared network
    port: int
    labels: dict[str, str] = field(default_factory=dict)
    watches: str | None = None  # the container an exporter reports on
    watches_service: str | None = None  # that container's service: postgres, redis, nginx
    # A Swarm service's tasks, found by DNS (`tasks.<service>`, dns_sd_configs), not one container.
    discovered: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: list[Target]
    metrics_path: str = "/metrics"
    source: str = ""  # the key of monitoring.catalogue.BY_SOURCE whose metrics this job yields


def scrape_jobs(settings: Settings) -> list[ScrapeJob]:
    """Every job of prometheus.yml, in a stable order."""
    env = settings.environment
    monitoring = settings.monitoring
    backend = [
        Target(naming.replica_name(env, "backend", color, index), settings.backend.port, {"color": color})
        for color in COLORS
        for index in range(1, settings.backend.replicas(color) + 1)
    ]
    if settings.platform == "swarm":
        # One service, its tasks rolling in and out: Docker's DNS lists them all under tasks.<name>.
        service = naming.app_service(env, "backend")
        backend = [Target(f"tasks.{service}", settings.backend.port, discovered=True)]
    postgres = [
        Target(
            server.exporter,
            POSTGRES_EXPORTER_PORT,
            {"role": server.role, "server": server.container},
            watches=server.container,
            watches_service="postgres",
        )
        for server in postgres_servers(settings)
    ]
    nginx = naming.nginx(env)
    redis = naming.redis(env)
    return [
        ScrapeJob("prometheus", [Target(prometheus_name(env), PROMETHEUS_PORT)], source="prometheus"),
        ScrapeJob("alertmanager", [Target(alertmanager_name(env), ALERTMANAGER_PORT)], source="alertmanager"),
        ScrapeJob("node", [Target(node_exporter_name(env), NODE_EXPORTER_PORT)], source="node_exporter"),
        ScrapeJob("cadvisor", [Target(cadvisor_name(env), CADVISOR_PORT)], source="cadvisor"),
        ScrapeJob("backend", backend, source="backend"),
        ScrapeJob(
            "nginx",
            [Target(nginx_exporter_name(env), NGINX_EXPORTER_PORT, {"server": nginx}, nginx, "nginx")],
            source="nginx_exporter",
        ),
        ScrapeJob("postgres", postgres, source="postgres_exporter"),
        ScrapeJob(
            "redis",
            [Target(redis_exporter_name(env), REDIS_EXPORTER_PORT, {"server": redis}, redis, "redis")],
            source="redis_exporter",
        ),
        ScrapeJob("backup", [Target(backup_name(env), monitoring.backup_metrics_port)], source="backup"),
    ]
