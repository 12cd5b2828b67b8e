"""Swarm configs: each rendered file a task reads, as a `docker.ServiceConfig` named after its content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.swarm.content import config_name
from websys import naming


@dataclass(frozen=True)
class SwarmConfigsArgs:
    environment: str
    # purpose (part of the config's name) -> the rendered file (from websys.render)
    contents: Mapping[str, str]


class SwarmConfigs(pulumi.ComponentResource):
    """A changed file is a new config with a new name; the services mounting it roll to it."""

    configs: dict[str, docker.ServiceConfig]
    names: dict[str, str]

    def __init__(self, name: str, args: SwarmConfigsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmConfigs", name, None, opts)
        self.configs = {}
        self.names = {}
        for purpose, content in sorted(args.contents.items()):
            self.names[purpose] = config_name(f"{naming.prefix(args.environment)}-{purpose}", content)
            self.configs[purpose] = docker.ServiceConfig(
                f"{name}-{purpose}",
                name=self.names[purpose],
                data_raw=content,
                labels=[
                    docker.ServiceConfigLabelArgs(label="com.websys.environment", value=args.environment),
                    docker.ServiceConfigLabelArgs(label="com.websys.config", value=purpose),
                ],
                # A new content is a new name: create it, move the services, delete the old one last
                # (Docker refuses to delete a config in use). See SwarmSecrets for the sources.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
            )
        self.register_outputs({"names": self.names})

    def mount(
        self, purpose: str, file_name: str, *, uid: str = "0", gid: str = "0", mode: int = 0o444
    ) -> docker.ServiceTaskSpecContainerSpecConfigArgs:
        config = self.configs[purpose]
        return docker.ServiceTaskSpecContainerSpecConfigArgs(
            config_id=config.id,
            config_name=config.name,
            file_name=file_name,
            file_uid=uid,
            file_gid=gid,
            file_mode=mode,
        )
