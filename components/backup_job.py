"""The scheduled backup job: `websys backup` on the settings' cron schedule, with restore drills and
Prometheus metrics (`websys_backup_last_success_timestamp_seconds`, size, duration) on its port."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.cpus import docker_cpus
from components.hardening import hardened
from websys import naming
from websys.app_env import env_list
from websys.backup.job_env import COMMAND, job_environment, metrics_healthcheck
from websys.settings.app import LoggingSettings
from websys.settings.backup import BackupSettings


@dataclass(frozen=True)
class BackupJobArgs:
    environment: str
    settings: BackupSettings
    logging: LoggingSettings
    data_network: pulumi.Input[str]  # where PostgreSQL is (internal: no route out)
    database_url: pulumi.Input[str]  # secret: the backup role's URL (websys.backup.job_env.database_url)
    manifest_key: pulumi.Input[str]  # secret: signs the manifests (StackSecrets.backup_manifest_key)
    bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str] | None
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]  # secret
    endpoint_url: str | None  # an S3-compatible endpoint as the container sees it; None for AWS
    image_id: pulumi.Input[str] | None = None  # a built image (components/images.py); None: pull settings.image


def _variable(env: dict[str, str], key: str) -> str:
    return env_list({key: env[key]})[0]


class BackupJob(pulumi.ComponentResource):
    container_name: str

    def __init__(self, name: str, args: BackupJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:backup_job:BackupJob", name, None, opts)
        settings = args.settings
        self.container_name = naming.backup_job(args.environment)
        child = pulumi.ResourceOptions(parent=self)
        # The data network has no route out; the job alone also joins this one to reach S3.
        self.egress = docker.Network(
            f"{name}-egress",
            name=naming.network_name(args.environment, "backup-egress"),
            driver="bridge",
            # Created after the data network, whose fixed subnet this one's free /16 must not hold
            # (components/network.py says why): the labels wait for the data network's name.
            labels=pulumi.Output.from_input(args.data_network).apply(
                lambda _: [docker.NetworkLabelArgs(label="com.websys.environment", value=args.environment)]
            ),
            opts=child,
        )
        image_id = args.image_id
        if image_id is None:
            image_id = docker.RemoteImage(f"{name}-image", name=settings.image, keep_locally=True, opts=child).image_id
        has_key = args.kms_key_arn is not None
        resolved = pulumi.Output.all(args.bucket_name, args.kms_key_arn, args.access_key_id).apply(
            lambda values: job_environment(settings, values[0], values[1], args.endpoint_url, values[2])
        )
        # The variable names are known now, so each variable is its own input and stays readable in a plan.
        names = sorted(job_environment(settings, "", "" if has_key else None, args.endpoint_url, ""))
        envs: list[pulumi.Input[str]] = [resolved.apply(functools.partial(_variable, key=key)) for key in names]
        envs += [
            pulumi.Output.secret(args.database_url).apply(lambda url: f"WEBSYS_DATABASE_URL={url}"),
            pulumi.Output.secret(args.manifest_key).apply(lambda key: f"WEBSYS_BACKUP_MANIFEST_KEY={key}"),
            pulumi.Output.secret(args.secret_access_key).apply(lambda key: f"AWS_SECRET_ACCESS_KEY={key}"),
        ]
        self.container = docker.Container(
            name,
            name=self.container_name,
            hostname=self.container_name,
            image=image_id,
            command=[*COMMAND, "--part-size-mb", str(settings.part_size_mb)],
            envs=envs,
            user="1000:1000",
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"},  # noqa: S108 the container's own /tmp; dumps never touch disk
            **hardened(
                memory_mb=settings.memory_mb,
                logging=args.logging,
                labels={
                    "com.websys.environment": args.environment,
                    "com.websys.service": "backup",
                    "com.websys.metrics-port": str(settings.metrics_port),
                },
            ),
            cpus=docker_cpus(1),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=metrics_healthcheck(settings.metrics_port),
                interval="30s",
                timeout="10s",
                retries=3,
                start_period="20s",
            ),
            wait=True,
            wait_timeout=120,
            destroy_grace_seconds=60,
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=args.data_network, aliases=[naming.BACKUP_METRICS_HOST, self.container_name]
                ),
                docker.ContainerNetworksAdvancedArgs(name=self.egress.name, aliases=[self.container_name]),
            ],
            opts=child,
        )
        self.register_outputs({"container_name": self.container_name})
