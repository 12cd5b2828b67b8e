"""The stack's secrets: taken from `pulumi config set --secret`, or generated once and kept."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pydantic import SecretStr


@dataclass(frozen=True)
class SecretSpec:
    """A secret the stack needs; `value` None means generate one."""

    value: SecretStr | None
    length: int = 32


@dataclass(frozen=True)
class StackSecretsArgs:
    database_password: SecretSpec
    jwt_secret: SecretSpec
    replication_password: SecretSpec
    redis_password: SecretSpec
    grafana_admin_password: SecretSpec
    # The backup job's own database role (components/backup_job.py, websys/render/postgres.py).
    backup_password: SecretSpec = SecretSpec(None)
    # Signs backup manifests (HMAC-SHA256); kept apart from the S3 credentials, so write access to
    # the bucket alone cannot plant a backup that a restore would accept.
    backup_manifest_key: SecretSpec = SecretSpec(None, length=64)


class StackSecrets(pulumi.ComponentResource):
    """Each output is a secret Output. Generated values live in the stack's encrypted state, so they
    stay the same on every `pulumi up` until the RandomPassword is replaced on purpose."""

    database_password: pulumi.Output[str]
    jwt_secret: pulumi.Output[str]
    replication_password: pulumi.Output[str]
    redis_password: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    backup_password: pulumi.Output[str]
    backup_manifest_key: pulumi.Output[str]

    def __init__(self, name: str, args: StackSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:secrets:StackSecrets", name, None, opts)
        self.database_password = self._secret(name, "database-password", args.database_password)
        self.jwt_secret = self._secret(name, "jwt-secret", args.jwt_secret)
        self.replication_password = self._secret(name, "replication-password", args.replication_password)
        self.redis_password = self._secret(name, "redis-password", args.redis_password)
        self.grafana_admin_password = self._secret(name, "grafana-admin-password", args.grafana_admin_password)
        self.backup_password = self._secret(name, "backup-password", args.backup_password)
        self.backup_manifest_key = self._secret(name, "backup-manifest-key", args.backup_manifest_key)
        self.register_outputs(
            {
                "database_password": self.database_password,
                "jwt_secret": self.jwt_secret,
                "replication_password": self.replication_password,
                "redis_password": self.redis_password,
                "grafana_admin_password": self.grafana_admin_password,
                "backup_password": self.backup_password,
                "backup_manifest_key": self.backup_manifest_key,
            }
        )

    def _secret(self, name: str, purpose: str, spec: SecretSpec) -> pulumi.Output[str]:
        if spec.value is not None:
            return pulumi.Output.secret(spec.value.get_secret_value())
        # Letters and digits only, so no URL, config file or shell script has to quote it.
        generated = random.RandomPassword(
            f"{name}-{purpose}",
            length=spec.length,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),  # the provider marks `result` secret itself
        )
        return pulumi.Output.secret(generated.result)
