"""Swarm secrets: each secret file a task needs, as a `docker.Secret` with a versioned name."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.swarm.content import MAX_NAME_LENGTH
from websys import naming
from websys.settings.text import sha256_hex

VERSION_BYTES = 6  # 12 hex characters in the name


def _base64(text: str) -> str:
    """The provider takes a secret's data base64-encoded."""
    return base64.b64encode(text.encode()).decode()


def _versioned(base: str, version_hex: str) -> str:
    return f"{base}-{version_hex}"


def _secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    secret: pulumi.Output[str] = pulumi.Output.secret(value)
    return secret


@dataclass(frozen=True)
class SwarmSecretsArgs:
    environment: str
    # purpose (a short name, part of the secret's name) -> content, each a secret Output
    contents: Mapping[str, pulumi.Output[str]]


class SwarmSecrets(pulumi.ComponentResource):
    """Secrets reach tasks as files under /run/secrets (tmpfs), never as environment variables.

    A secret's name is `websys-<env>-<purpose>-<version>`, the version a `random.RandomId` whose
    keepers are the content's digest (kept secret in state): a rotated value gets a new random
    version, so a new name, and the name says nothing about the value (no key, no hash of it).

    Rotation must create the new secret before the old one is deleted: Docker refuses to remove a
    secret a service still uses. The bridge makes every resource whose `name` is given explicitly
    delete-before-replace (pulumi-terraform-bridge `pkg/tfbridge/schema.go`,
    `nameRequiresDeleteBeforeReplace`, for the names `SetAutonaming` covers: pulumi-docker
    `provider/resources.go`); `delete_before_replace=False` overrides the provider's choice (pulumi
    `pkg/resource/deploy/step_generator.go`: "The user can override the provider's decision"). The
    engine then creates the new secret, updates the services to it and deletes the old one last.
    """

    secrets: dict[str, docker.Secret]

    def __init__(self, name: str, args: SwarmSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmSecrets", name, None, opts)
        self.secrets = {}
        for purpose, content in sorted(args.contents.items()):
            base = f"{naming.prefix(args.environment)}-{purpose}"
            if len(base) + 1 + 2 * VERSION_BYTES > MAX_NAME_LENGTH:
                raise ValueError(f"{base!r} leaves no room for a version in Docker's {MAX_NAME_LENGTH} characters")
            labels = {"com.websys.environment": args.environment, "com.websys.secret": purpose}
            version = random.RandomId(
                f"{name}-{purpose}-version",
                byte_length=VERSION_BYTES,
                # Anything the docker.Secret is replaced for (data, labels) is a keeper: a replacement
                # always comes with a new name, so old and new can exist side by side.
                keepers={"content": _secret(content.apply(sha256_hex)), **labels},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.secrets[purpose] = docker.Secret(
                f"{name}-{purpose}",
                name=version.hex.apply(functools.partial(_versioned, base)),
                data=_secret(content.apply(_base64)),
                labels=[docker.SecretLabelArgs(label=key, value=value) for key, value in labels.items()],
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
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
