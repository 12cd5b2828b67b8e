"""Redis with an append-only file, a password and a memory bound, on the internal data network."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.cpus import docker_cpus
from components.hardening import hardened
from websys import naming
from websys.render import artifacts
from websys.render import redis as files
from websys.settings import Settings


@dataclass(frozen=True)
class RedisArgs:
    settings: Settings
    data_network: pulumi.Input[str]
    password: pulumi.Output[str]  # a secret Output from StackSecrets


class Redis(pulumi.ComponentResource):
    """One Redis server reachable as `redis` on the data network; its AOF lives on a named volume."""

    container_name: str

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:redis:Redis", name, None, opts)
        settings = args.settings
        redis = settings.redis
        env = settings.environment
        self.container_name = naming.redis(env)
        labels = {"com.websys.environment": env, "com.websys.service": "redis"}
        uid, gid = redis.user.split(":")

        image = docker.RemoteImage(
            f"{name}-image",
            name=redis.image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.volume = docker.Volume(
            f"{name}-data",
            name=f"{self.container_name}-data",
            labels=[docker.VolumeLabelArgs(label=key, value=value) for key, value in sorted(labels.items())],
            opts=pulumi.ResourceOptions(
                parent=self, protect=redis.protect_volumes, retain_on_delete=redis.protect_volumes
            ),
        )
        self.container = docker.Container(
            f"{name}-server",
            name=self.container_name,
            hostname=self.container_name,
            image=image.image_id,  # not .name: a name input recreates the container on every run
            user=redis.user,
            command=["redis-server", files.CONFIG_FILE],
            uploads=[
                *(
                    docker.ContainerUploadArgs(file=item.target, content=item.content, permissions=item.mode)
                    for item in artifacts.redis_files(settings, f"{name}-server")
                    if not item.secret
                ),
                # Readable by the server's user alone.
                docker.ContainerUploadArgs(
                    file=files.AUTH_FILE,
                    content=args.password.apply(files.render_redis_auth),
                    owner=uid,
                    group=gid,
                    permissions="0400",
                ),
                docker.ContainerUploadArgs(
                    file=files.PASSWORD_FILE, content=args.password, owner=uid, group=gid, permissions="0400"
                ),
            ],
            # Docker refuses uploads into a read-only root filesystem; Redis writes to /data only.
            read_only=False,
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=files.DATA_DIR)],
            **hardened(memory_mb=redis.memory_mb, logging=settings.logging, labels=labels),
            cpus=docker_cpus(redis.cpus),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=files.redis_healthcheck_command(),
                interval="10s",
                timeout="5s",
                retries=5,
                start_period="10s",
            ),
            wait=True,
            wait_timeout=120,
            destroy_grace_seconds=30,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=args.data_network, aliases=[self.container_name, naming.REDIS_HOST]
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"container_name": self.container_name})
