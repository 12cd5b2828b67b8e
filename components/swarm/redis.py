"""Redis on Swarm: one task pinned to the node labelled for it, where its append-only file lives."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.swarm import task
from components.swarm.postgres import ConfigMount, SecretMount, secret_file
from websys import naming
from websys.render import redis as files
from websys.settings import Settings

NODE_LABEL = "websys.redis"


@dataclass(frozen=True)
class SwarmRedisArgs:
    settings: Settings
    data_network: pulumi.Input[str]  # the data overlay's id
    mount_secret: SecretMount  # SwarmSecrets.mount: "redis-auth", "redis-password"
    mount_config: ConfigMount  # SwarmConfigs.mount: "redis-conf"


class SwarmRedis(pulumi.ComponentResource):
    service_name: str

    def __init__(self, name: str, args: SwarmRedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmRedis", name, None, opts)
        settings = args.settings
        redis, swarm, env = settings.redis, settings.swarm, settings.environment
        uid, gid = redis.user.split(":")
        self.service_name = naming.redis(env)
        labels = {"com.websys.environment": env, "com.websys.service": "redis"}
        self.service = docker.Service(
            f"{name}-service",
            name=self.service_name,
            labels=task.service_labels(labels),
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=1)),
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                    image=task.pinned_image(redis.image),
                    args=["redis-server", files.CONFIG_FILE],
                    user=redis.user,
                    configs=[args.mount_config("redis-conf", files.CONFIG_FILE)],
                    secrets=[
                        args.mount_secret("redis-auth", secret_file(files.AUTH_FILE), uid=uid, gid=gid),
                        args.mount_secret("redis-password", secret_file(files.PASSWORD_FILE), uid=uid, gid=gid),
                    ],
                    mounts=[
                        docker.ServiceTaskSpecContainerSpecMountArgs(
                            target=files.DATA_DIR,
                            type="volume",
                            source=f"{self.service_name}-data",
                            volume_options=docker.ServiceTaskSpecContainerSpecMountVolumeOptionsArgs(
                                labels=[
                                    docker.ServiceTaskSpecContainerSpecMountVolumeOptionsLabelArgs(
                                        label=key, value=value
                                    )
                                    for key, value in sorted(labels.items())
                                ]
                            ),
                        )
                    ],
                    cap_drops=["ALL"],
                    healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
                        tests=files.redis_healthcheck_command(),
                        interval="10s",
                        timeout="5s",
                        retries=5,
                        start_period="10s",
                    ),
                    stop_grace_period=task.seconds(task.DATA_STOP_GRACE_SECONDS),
                    hostname=self.service_name,
                    labels=task.container_labels(labels),
                ),
                resources=task.resources(redis.cpus, redis.memory_mb, 100),
                restart_policy=task.restart_policy(),
                placement=docker.ServiceTaskSpecPlacementArgs(
                    constraints=[task.node_constraint(NODE_LABEL)], max_replicas=1
                ),
                log_driver=task.log_driver(settings.logging),
                networks_advanceds=[
                    docker.ServiceTaskSpecNetworksAdvancedArgs(
                        id=args.data_network, aliases=[self.service_name, naming.REDIS_HOST]
                    )
                ],
            ),
            update_config=task.stateful_update(swarm),
            rollback_config=task.rollback(swarm, order="stop-first"),
            converge_config=docker.ServiceConvergeConfigArgs(delay="7s", timeout=task.seconds(180)),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=task.SERVICE_IGNORED),
        )
        self.register_outputs({"service_name": self.service_name})
