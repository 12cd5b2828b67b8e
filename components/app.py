"""A stateless application tier (frontend or backend): replicas in two deploy colors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.cpus import docker_cpus
from components.durations import go_duration
from components.hardening import hardened
from websys import naming
from websys.app_env import healthcheck_command
from websys.settings import COLORS, AppTierSettings, Color
from websys.settings.app import LoggingSettings


@dataclass(frozen=True)
class AppServiceArgs:
    environment: str
    service: str  # "frontend" or "backend": part of every container name and alias
    tier: AppTierSettings
    logging: LoggingSettings
    networks: Sequence[pulumi.Input[str]]
    environment_variables: Sequence[pulumi.Input[str]]  # Docker's KEY=value form; secrets as secret Outputs
    labels: Mapping[str, str] = field(default_factory=dict)
    # Image ids of images the stack builds (components/images.py), by the reference they are tagged with.
    built_images: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)


class AppService(pulumi.ComponentResource):
    """N containers per color, each color with its own image. Colors are independent resource
    sets with distinct names, so creating green never touches blue; nginx picks which one serves."""

    container_names: dict[Color, list[str]]

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:app:AppService", name, None, opts)
        self.containers: dict[Color, list[docker.Container]] = {}
        self.container_names = {}
        for color in COLORS:
            color_settings = args.tier.color(color)
            replicas = 0 if color_settings is None else color_settings.replicas
            self.container_names[color] = [
                naming.replica_name(args.environment, args.service, color, index) for index in range(1, replicas + 1)
            ]
            if color_settings is None or replicas == 0:
                self.containers[color] = []
                continue
            image = args.built_images.get(color_settings.image)
            if image is None:
                image = docker.RemoteImage(
                    f"{name}-{color}-image",
                    name=color_settings.image,
                    keep_locally=True,  # the other color may run the same image
                    opts=pulumi.ResourceOptions(parent=self),
                ).image_id
            self.containers[color] = [
                self._replica(name, args, color, index, image, container_name)
                for index, container_name in enumerate(self.container_names[color], start=1)
            ]
        self.register_outputs({"container_names": self.container_names})

    def _replica(
        self,
        name: str,
        args: AppServiceArgs,
        color: Color,
        index: int,
        image: pulumi.Output[str],
        container_name: str,
    ) -> docker.Container:
        tier = args.tier
        check = tier.healthcheck
        labels = {
            **args.labels,
            "com.websys.environment": args.environment,
            "com.websys.service": args.service,
            "com.websys.color": color,
        }
        return docker.Container(
            f"{name}-{color}-{index}",
            name=container_name,
            hostname=container_name,
            image=image,  # an image id, not a name: a name input recreates the container on every run
            envs=list(args.environment_variables),
            user=tier.user,
            read_only=tier.read_only_root_filesystem,
            tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},  # noqa: S108 the container's own /tmp
            **hardened(memory_mb=tier.resources.memory_mb, logging=args.logging, labels=labels),
            cpus=docker_cpus(tier.resources.cpus),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=healthcheck_command(tier.port, check.path),
                interval=go_duration(check.interval_seconds),
                timeout=go_duration(check.timeout_seconds),
                retries=check.retries,
                start_period=go_duration(check.start_period_seconds),
            ),
            # `pulumi up` waits until the replica is healthy, so traffic only moves to a ready color.
            wait=True,
            wait_timeout=check.start_period_seconds + check.interval_seconds * (check.retries + 1),
            destroy_grace_seconds=30,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=network, aliases=[container_name, f"{args.service}-{color}"])
                for network in args.networks
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
