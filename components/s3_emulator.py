"""Development only: moto's S3-compatible server, so the development stack needs no cloud account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.hardening import hardened
from websys import naming
from websys.settings.app import LoggingSettings
from websys.settings.backup import S3EmulatorSettings


@dataclass(frozen=True)
class S3EmulatorArgs:
    environment: str
    settings: S3EmulatorSettings
    logging: LoggingSettings
    # The data network (the backup job reaches it as `s3`) and one with a route to the host, for the
    # port Pulumi's AWS provider uses; an internal network cannot publish ports.
    networks: Sequence[pulumi.Input[str]]


class S3Emulator(pulumi.ComponentResource):
    """Published on the host's loopback only. Its state lives in memory: a restart empties it, which
    is what a development stack wants (`pulumi up --refresh` recreates the buckets)."""

    container_name: str

    def __init__(self, name: str, args: S3EmulatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:s3_emulator:S3Emulator", name, None, opts)
        self.container_name = naming.s3_emulator(args.environment)
        image = docker.RemoteImage(
            f"{name}-image", name=args.settings.image, keep_locally=True, opts=pulumi.ResourceOptions(parent=self)
        )
        port = naming.S3_EMULATOR_PORT
        self.container = docker.Container(
            name,
            name=self.container_name,
            hostname=self.container_name,
            image=image.image_id,
            envs=[f"MOTO_PORT={port}"],
            ports=[docker.ContainerPortArgs(internal=port, external=args.settings.host_port, ip="127.0.0.1")],
            **hardened(
                memory_mb=1024,
                logging=args.logging,
                labels={"com.websys.environment": args.environment, "com.websys.service": "s3-emulator"},
            ),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=[
                    "CMD",
                    "python",
                    "-c",
                    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/moto-api/', timeout=5)",
                ],
                interval="10s",
                timeout="5s",
                retries=3,
                start_period="10s",
            ),
            wait=True,  # Pulumi creates the buckets in it next
            wait_timeout=60,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=network, aliases=[naming.S3_EMULATOR_HOST, self.container_name]
                )
                for network in args.networks
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"container_name": self.container_name})
