"""The exporters: what Prometheus scrapes for things that do not speak its format themselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from monitoring import runtime, targets
from monitoring.containers import ContainerSpec, hardened_container
from websys import naming
from websys.app_env import env_list
from websys.settings import Settings


@dataclass(frozen=True)
class ExportersArgs:
    settings: Settings
    edge_network: pulumi.Input[str]
    data_network: pulumi.Input[str]
    monitoring_network: pulumi.Input[str]
    database_password: pulumi.Output[str]  # secret
    redis_password: pulumi.Output[str]  # secret


class Exporters(pulumi.ComponentResource):
    """postgres_exporter (one per PostgreSQL server) and redis_exporter on the data network,
    nginx-prometheus-exporter on the edge network, node_exporter and cAdvisor on the monitoring one."""

    container_names: list[str]

    def __init__(self, name: str, args: ExportersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:exporters:Exporters", name, None, opts)
        settings = args.settings
        env = settings.environment
        images = settings.monitoring.images
        memory = settings.monitoring.memory_mb.exporter
        child = pulumi.ResourceOptions(parent=self)

        def image(key: str, reference: str) -> docker.RemoteImage:
            return docker.RemoteImage(f"{name}-{key}-image", name=reference, keep_locally=True, opts=child)

        self.containers: list[docker.Container] = []

        postgres_image = image("postgres-exporter", images.postgres_exporter)
        for server in targets.postgres_servers(settings):
            suffix = server.exporter.removeprefix(f"{naming.prefix(env)}-")
            password_variable = args.database_password.apply(
                lambda password: runtime.secret_variable("DATA_SOURCE_PASS", password)
            )
            self.containers.append(
                hardened_container(
                    f"{name}-{suffix}",
                    ContainerSpec(
                        container_name=server.exporter,
                        image=postgres_image,
                        service="postgres-exporter",
                        environment=env,
                        logging=settings.logging,
                        user=runtime.NOBODY,
                        memory_mb=memory,
                        networks=[args.data_network],
                        healthcheck=runtime.postgres_exporter_healthcheck(),
                        envs=[*env_list(runtime.postgres_exporter_environment(settings, server)), password_variable],
                    ),
                    child,
                )
            )

        redis_password_variable = args.redis_password.apply(
            lambda password: runtime.secret_variable("REDIS_PASSWORD", password)
        )
        self.containers.append(
            hardened_container(
                f"{name}-redis-exporter",
                ContainerSpec(
                    container_name=targets.redis_exporter_name(env),
                    image=image("redis-exporter", images.redis_exporter),
                    service="redis-exporter",
                    environment=env,
                    logging=settings.logging,
                    user=runtime.NOBODY,
                    memory_mb=memory,
                    networks=[args.data_network],
                    healthcheck=runtime.redis_exporter_healthcheck(),
                    envs=[*env_list(runtime.redis_exporter_environment(settings)), redis_password_variable],
                ),
                child,
            )
        )

        # The image is FROM scratch: no shell for a healthcheck; the TargetDown alert watches it.
        self.containers.append(
            hardened_container(
                f"{name}-nginx-exporter",
                ContainerSpec(
                    container_name=targets.nginx_exporter_name(env),
                    image=image("nginx-exporter", images.nginx_exporter),
                    service="nginx-exporter",
                    environment=env,
                    logging=settings.logging,
                    user=runtime.NOBODY,
                    memory_mb=memory,
                    networks=[args.edge_network],
                    healthcheck=None,
                    command=runtime.nginx_exporter_command(settings),
                ),
                child,
            )
        )

        # The host as node_exporter sees it: its filesystems read-only under /host, its processes.
        self.containers.append(
            hardened_container(
                f"{name}-node-exporter",
                ContainerSpec(
                    container_name=targets.node_exporter_name(env),
                    image=image("node-exporter", images.node_exporter),
                    service="node-exporter",
                    environment=env,
                    logging=settings.logging,
                    user=runtime.NOBODY,
                    memory_mb=memory,
                    networks=[args.monitoring_network],
                    healthcheck=runtime.wget_healthcheck(targets.NODE_EXPORTER_PORT, "/"),
                    command=runtime.node_exporter_command(),
                    pid_mode="host",
                    volumes=[
                        docker.ContainerVolumeArgs(host_path="/", container_path=runtime.HOST_ROOT, read_only=True)
                    ],
                ),
                child,
            )
        )

        # cAdvisor reads cgroups and the Docker daemon's state: it runs as root, read-only, unprivileged,
        # with one capability to read files it does not own.
        self.containers.append(
            hardened_container(
                f"{name}-cadvisor",
                ContainerSpec(
                    container_name=targets.cadvisor_name(env),
                    image=image("cadvisor", images.cadvisor),
                    service="cadvisor",
                    environment=env,
                    logging=settings.logging,
                    user="0:0",
                    memory_mb=settings.monitoring.memory_mb.cadvisor,
                    networks=[args.monitoring_network],
                    healthcheck=runtime.cadvisor_healthcheck(),
                    command=runtime.cadvisor_command(),
                    capability_adds=["DAC_READ_SEARCH"],
                    volumes=[
                        docker.ContainerVolumeArgs(host_path=host, container_path=path, read_only=True)
                        for host, path in _CADVISOR_MOUNTS
                    ],
                ),
                child,
            )
        )
        self.container_names = [server.exporter for server in targets.postgres_servers(settings)] + [
            targets.redis_exporter_name(env),
            targets.nginx_exporter_name(env),
            targets.node_exporter_name(env),
            targets.cadvisor_name(env),
        ]
        self.register_outputs({"container_names": self.container_names})


_CADVISOR_MOUNTS: Sequence[tuple[str, str]] = (
    ("/", "/rootfs"),
    ("/var/run", "/var/run"),
    ("/sys", "/sys"),
    ("/var/lib/docker", "/var/lib/docker"),
    ("/dev/disk", "/dev/disk"),
)
