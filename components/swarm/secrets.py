"""Swarm secrets: each secret file a task needs, as a `docker.Secret` named after its content."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.swarm.content import secret_name
from websys import naming


def _hashed_name(base: str, values: list[str]) -> str:
    key, content = values
    return secret_name(base, key, content)


def _base64(text: str) -> str:
    """The provider takes a secret's data base64-encoded."""
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class SwarmSecretsArgs:
    environment: str
    # purpose (a short name, part of the secret's name) -> content, each a secret Output
    contents: Mapping[str, pulumi.Output[str]]


class SwarmSecrets(pulumi.ComponentResource):
    """Secrets reach tasks as files under /run/secrets (tmpfs), never as environment variables.
    A rotated value gets a new name, so the services that mount it roll to it."""

    secrets: dict[str, docker.Secret]

    def __init__(self, name: str, args: SwarmSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmSecrets", name, None, opts)
        # Keys the names' HMAC; generated once and kept in the stack's encrypted state.
        name_key = random.RandomPassword(
            f"{name}-name-key", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.secrets = {}
        for purpose, content in sorted(args.contents.items()):
            base = f"{naming.prefix(args.environment)}-{purpose}"
            docker_name: pulumi.Output[str] = pulumi.Output.all(name_key.result, content).apply(
                functools.partial(_hashed_name, base)
            )
            encoded: pulumi.Output[str] = pulumi.Output.secret(content.apply(_base64))
            self.secrets[purpose] = docker.Secret(
                f"{name}-{purpose}",
                # The name is an HMAC of the content, not the content: it need not stay secret.
                name=pulumi.Output.unsecret(docker_name),
                data=encoded,
                labels=[
                    docker.SecretLabelArgs(label="com.websys.environment", value=args.environment),
                    docker.SecretLabelArgs(label="com.websys.secret", value=purpose),
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"names": {purpose: secret.name for purpose, secret in self.secrets.items()}})

    def mount(
        self, purpose: str, file_name: str, *, uid: str = "0", gid: str = "0", mode: int = 0o400
    ) -> docker.ServiceTaskSpecContainerSpecSecretArgs:
        """The secret as /run/secrets/<file_name>, readable by `uid` alone unless `mode` says otherwise."""
        secret = self.secrets[purpose]
        return docker.ServiceTaskSpecContainerSpecSecretArgs(
            secret_id=secret.id,
            secret_name=secret.name,
            file_name=file_name,
            file_uid=uid,
            file_gid=gid,
            file_mode=mode,
        )
