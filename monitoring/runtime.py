"""What the monitoring containers are told: commands, environment variables and healthchecks."""

from __future__ import annotations

from monitoring.targets import (
    ALERTMANAGER_PORT,
    CADVISOR_PORT,
    GRAFANA_PORT,
    NGINX_EXPORTER_PORT,
    NODE_EXPORTER_PORT,
    POSTGRES_EXPORTER_PORT,
    PROMETHEUS_PORT,
    REDIS_EXPORTER_PORT,
    PostgresServer,
)
from websys import naming
from websys.render.nginx import STATUS_PATH
from websys.settings import Settings

NOBODY = "65534:65534"  # the unprivileged user of the Prometheus project's images
GRAFANA_USER = "472:0"  # the grafana image's own user
HOST_ROOT = "/host"  # node_exporter sees the host's filesystem here, read-only


def wget_healthcheck(port: int, path: str) -> list[str]:
    """An HTTP probe with busybox wget, which the Prometheus, Grafana and Alpine-based images ship."""
    return ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"]


def prometheus_healthcheck() -> list[str]:
    return wget_healthcheck(PROMETHEUS_PORT, "/-/healthy")


def alertmanager_healthcheck() -> list[str]:
    return wget_healthcheck(ALERTMANAGER_PORT, "/-/healthy")


def grafana_health_url(settings: Settings) -> str:
    """Grafana's /api/health inside its container (it serves under monitoring.grafanaPath)."""
    return f"http://127.0.0.1:{GRAFANA_PORT}{settings.monitoring.grafana_path}api/health"


def grafana_healthcheck(settings: Settings) -> list[str]:
    return ["CMD", "wget", "-q", "-O", "/dev/null", grafana_health_url(settings)]


def node_exporter_command() -> list[str]:
    return [
        f"--path.rootfs={HOST_ROOT}",
        f"--web.listen-address=:{NODE_EXPORTER_PORT}",
        "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($|/)",
    ]


def cadvisor_command() -> list[str]:
    return [
        f"--port={CADVISOR_PORT}",
        "--docker_only=true",
        "--housekeeping_interval=30s",
        "--store_container_labels=false",
        # Keep what the rules and dashboards use; the rest multiplies series for nothing.
        "--disable_metrics=advtcp,cpu_topology,cpuset,hugetlb,memory_numa,percpu,perf_event,process,referenced_memory,resctrl,sched,tcp,udp",
    ]


def cadvisor_healthcheck() -> list[str]:
    return wget_healthcheck(CADVISOR_PORT, "/healthz")


def postgres_exporter_environment(settings: Settings, server: PostgresServer) -> dict[str, str]:
    """The exporter's connection, except the password (DATA_SOURCE_PASS, a secret variable)."""
    database = settings.database
    return {
        "DATA_SOURCE_URI": f"{server.container}:{database.port}/{database.name}?sslmode=disable",
        "DATA_SOURCE_USER": database.user,
        "PG_EXPORTER_WEB_LISTEN_ADDRESS": f":{POSTGRES_EXPORTER_PORT}",
    }


def postgres_exporter_healthcheck() -> list[str]:
    return wget_healthcheck(POSTGRES_EXPORTER_PORT, "/")


def redis_exporter_environment(settings: Settings) -> dict[str, str]:
    """The exporter's connection, except the password (REDIS_PASSWORD, a secret variable)."""
    return {
        "REDIS_ADDR": f"redis://{naming.redis(settings.environment)}:{naming.REDIS_PORT}",
        "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": f":{REDIS_EXPORTER_PORT}",
    }


def redis_exporter_healthcheck() -> list[str]:
    return wget_healthcheck(REDIS_EXPORTER_PORT, "/health")


def nginx_stub_status_url(settings: Settings) -> str:
    """Where nginx-prometheus-exporter reads nginx's counters: the edge's status port
    (`proxy.statusPort`, on the edge network only), at the path the nginx renderer serves it."""
    return f"http://{naming.nginx(settings.environment)}:{settings.proxy.status_port}{STATUS_PATH}"


def nginx_exporter_command(settings: Settings) -> list[str]:
    return [
        f"--nginx.scrape-uri={nginx_stub_status_url(settings)}",
        # The exporter exits when stub_status does not answer at its start, and nginx serves it
        # only once the rendered configuration is pushed (after the container starts): retrying
        # for a minute replaces a crash loop on Docker's restart back-off (seen on a real engine).
        "--nginx.retries=30",
        "--nginx.retry-interval=2s",
        f"--web.listen-address=:{NGINX_EXPORTER_PORT}",
    ]


def secret_variable(name: str, value: str) -> str:
    """Docker's KEY=value form of a secret; callers pass it inside an Output.secret apply."""
    return f"{name}={value}"
