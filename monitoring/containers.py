"""The hardening every monitoring container shares, in one place (as components/app.py does for the apps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.cpus import docker_cpus
from components.hardening import hardened
from websys.settings.app import LoggingSettings


@dataclass(frozen=True)
class ContainerSpec:
    container_name: str
    image: docker.RemoteImage
    environment: str
    service: str  # the com.websys.service label: prometheus, postgres-exporter, ...
    user: str
    memory_mb: int
    networks: Sequence[pulumi.Input[str]]
    healthcheck: list[str] | None  # Docker's CMD form; None only for images without a shell
    logging: LoggingSettings
    command: list[str] = field(default_factory=list)
    envs: Sequence[pulumi.Input[str]] = ()
    read_only: bool = True
    volumes: Sequence[docker.ContainerVolumeArgs] = ()
    uploads: Sequence[docker.ContainerUploadArgs] = ()
    pid_mode: str | None = None
    capability_adds: list[str] = field(default_factory=list)
    cpus: float = 0.5


def hardened_container(resource_name: str, spec: ContainerSpec, opts: pulumi.ResourceOptions) -> docker.Container:
    """No host port, no new privileges, every capability dropped (unless one is named), memory without
    extra swap, json-file logs rotated, restarted unless stopped, and a healthcheck `pulumi up` waits for."""
    labels = {
        "com.websys.environment": spec.environment,
        "com.websys.service": spec.service,
        "com.websys.tier": "monitoring",
    }
    healthcheck = (
        docker.ContainerHealthcheckArgs(
            tests=spec.healthcheck, interval="30s", timeout="5s", retries=3, start_period="30s"
        )
        if spec.healthcheck is not None
        else None
    )
    return docker.Container(
        resource_name,
        name=spec.container_name,
        hostname=spec.container_name,
        image=spec.image.image_id,  # not .name: a name input recreates the container on every run
        command=spec.command or None,
        envs=list(spec.envs) or None,
        user=spec.user,
        read_only=spec.read_only,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"},  # noqa: S108 the container's own /tmp
        **hardened(memory_mb=spec.memory_mb, logging=spec.logging, labels=labels, capability_adds=spec.capability_adds),
        cpus=docker_cpus(spec.cpus),
        pid_mode=spec.pid_mode,
        healthcheck=healthcheck,
        wait=healthcheck is not None,
        wait_timeout=180,
        destroy_grace_seconds=30,
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=network, aliases=[spec.container_name])
            for network in spec.networks
        ],
        volumes=list(spec.volumes) or None,
        uploads=list(spec.uploads) or None,
        opts=opts,
    )
