"""Wires the backup and disaster-recovery components of a stack (called once from __main__.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.aws_provider import aws_provider
from components.backup_job import BackupJob, BackupJobArgs
from components.backup_storage import BackupStorage, BackupStorageArgs
from components.log_archive import LogArchive, LogArchiveArgs
from components.s3_emulator import S3Emulator, S3EmulatorArgs
from components.secrets import StackSecrets
from websys import naming
from websys.backup import job_env
from websys.settings import Settings


@dataclass(frozen=True)
class Backups:
    storage: BackupStorage
    log_archive: LogArchive
    job: BackupJob
    emulator: S3Emulator | None

    def outputs(self) -> dict[str, object]:
        return {
            "bucket": self.storage.bucket_name,
            "logArchiveBucket": self.log_archive.bucket_name,
            "jobContainer": self.job.container_name,
        }


def deploy_backups(
    settings: Settings,
    edge_network: pulumi.Input[str],
    data_network: pulumi.Input[str],
    secrets: StackSecrets,
    with_docker: pulumi.ResourceOptions,
    built_images: Mapping[str, pulumi.Output[str]],
) -> Backups:
    env, backup = settings.environment, settings.backup
    emulator = None
    job_endpoint = backup.endpoint
    if backup.emulator is not None:
        emulator = S3Emulator(
            "s3-emulator",
            S3EmulatorArgs(env, backup.emulator, settings.logging, networks=[edge_network, data_network]),
            opts=with_docker,
        )
        job_endpoint = f"http://{naming.S3_EMULATOR_HOST}:{naming.S3_EMULATOR_PORT}"
    provider = aws_provider(env, backup, depends_on=[emulator] if emulator is not None else [])
    with_aws = pulumi.ResourceOptions(providers={"aws": provider})
    # Backups are data wherever they are not throwaway: staging and production keep their buckets and key.
    protect = env != "development"
    storage = BackupStorage("backups", BackupStorageArgs(env, backup, protect=protect), opts=with_aws)
    log_archive = LogArchive(
        "log-archive", LogArchiveArgs(env, backup, kms_key_arn=storage.kms_key_arn, protect=protect), opts=with_aws
    )
    job = BackupJob(
        "backup-job",
        BackupJobArgs(
            environment=env,
            settings=backup,
            logging=settings.logging,
            data_network=data_network,
            database_url=secrets.backup_password.apply(lambda password: job_env.database_url(settings, password)),
            manifest_key=secrets.backup_manifest_key,
            bucket_name=storage.bucket_name,
            kms_key_arn=storage.kms_key_arn,
            access_key_id=storage.access_key_id,
            secret_access_key=storage.secret_access_key,
            endpoint_url=job_endpoint,
            image_id=built_images.get(backup.image),
        ),
        opts=with_docker,
    )
    return Backups(storage, log_archive, job, emulator)
