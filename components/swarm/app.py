"""A stateless tier (frontend or backend) as one replicated Swarm service with rolling updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.swarm import task
from websys import naming
from websys.app_env import healthcheck_command
from websys.settings import AppTierSettings, Color
from websys.settings.app import LoggingSettings
from websys.settings.swarm import SwarmSettings


@dataclass(frozen=True)
class SwarmAppServiceArgs:
    environment: str
    service: str  # "frontend" or "backend": the service's name and its alias on the networks
    tier: AppTierSettings
    color: Color  # the active color: its image and replica count drive the service
    swarm: SwarmSettings
    logging: LoggingSettings
    networks: Sequence[pulumi.Input[str]]  # network ids
    # Plain variables only; secrets come as files (`secrets`), their paths in `*_FILE` variables.
    environment_variables: Mapping[str, str]
    secrets: Sequence[docker.ServiceTaskSpecContainerSpecSecretArgs] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class SwarmAppService(pulumi.ComponentResource):
    """Blue/green colors are not needed here: a new image tag is a service update, which Swarm
    rolls out task by task (start-first) and rolls back by itself if a new task fails."""

    service_name: str

    def __init__(self, name: str, args: SwarmAppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmAppService", name, None, opts)
        tier, swarm = args.tier, args.swarm
        color = tier.color(args.color)
        if color is None:  # the settings refuse an active color without replicas
            raise ValueError(f"{args.service} has no {args.color} color")
        check = tier.healthcheck
        self.service_name = naming.app_service(args.environment, args.service)
        labels = {**args.labels, "com.websys.environment": args.environment, "com.websys.service": args.service}
        start_seconds = check.start_period_seconds + check.interval_seconds * (check.retries + 1)
        self.service = docker.Service(
            f"{name}-service",
            name=self.service_name,
            labels=task.service_labels(labels),
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=color.replicas)),
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                    # The reference itself: every node pulls it (pinned by tag or digest).
                    image=task.pinned_image(color.image),
                    env=dict(sorted(args.environment_variables.items())),
                    secrets=list(args.secrets),
                    user=tier.user,
                    read_only=tier.read_only_root_filesystem,
                    mounts=[task.tmpfs("/tmp", 64)],  # noqa: S108 the task's own /tmp
                    cap_drops=["ALL"],
                    healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
                        tests=healthcheck_command(tier.port, check.path),
                        interval=task.seconds(check.interval_seconds),
                        timeout=task.seconds(check.timeout_seconds),
                        retries=check.retries,
                        start_period=task.seconds(check.start_period_seconds),
                    ),
                    stop_grace_period=task.seconds(swarm.stop_grace_seconds),
                    labels=task.container_labels(labels),
                ),
                resources=task.resources(tier.resources.cpus, tier.resources.memory_mb, swarm.reservation_percent),
                restart_policy=task.restart_policy(),
                placement=docker.ServiceTaskSpecPlacementArgs(prefs=task.spread(swarm)),
                log_driver=task.log_driver(args.logging),
                networks_advanceds=[
                    docker.ServiceTaskSpecNetworksAdvancedArgs(id=network, aliases=[args.service])
                    for network in args.networks
                ],
            ),
            update_config=task.rolling_update(swarm),
            rollback_config=task.rollback(swarm),
            # `pulumi up` returns once the rollout has converged (or fails when it does not).
            converge_config=docker.ServiceConvergeConfigArgs(
                delay="7s", timeout=task.converge_timeout(color.replicas, swarm, start_seconds)
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=task.SERVICE_IGNORED),
        )
        self.register_outputs({"service_name": self.service_name})
