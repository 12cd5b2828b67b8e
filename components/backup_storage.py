"""Where database backups live: a hardened bucket with retention by lifecycle, its KMS key, and the
least-privilege identity of the backup job."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import iam, kms

from components.aws_s3 import s3
from components.s3_bucket import SecureBucket, SecureBucketArgs
from websys.backup.policies import render_backup_user_policy
from websys.settings.backup import BackupSettings


@dataclass(frozen=True)
class BackupStorageArgs:
    environment: str
    settings: BackupSettings
    protect: bool  # production: bucket and key survive `pulumi destroy` and removal from the program


def backup_lifecycle_rules(settings: BackupSettings) -> list[s3.BucketLifecycleConfigurationRuleArgs]:
    """Backups expire after `retentionDays` (the guide's 30); old versions and stalled uploads too."""
    return [
        s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-backups",
            status="Enabled",
            filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{settings.prefix}/"),
            expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=settings.retention_days),
            noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=settings.noncurrent_retention_days
            ),
        ),
        s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=settings.abort_incomplete_upload_days
            ),
            expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
        ),
    ]


class BackupStorage(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str] | None
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]  # secret

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:backup_storage:BackupStorage", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = {"websys:environment": args.environment, "websys:purpose": "database-backups"}
        self.kms_key: kms.Key | None = None
        if settings.encryption == "kms":
            self.kms_key = kms.Key(
                f"{name}-key",
                description=f"websys {args.environment}: database backups and log archive",
                enable_key_rotation=True,
                deletion_window_in_days=settings.kms_deletion_window_days,
                tags=tags,
                # Without the key the backups are unreadable: the key is as precious as the bucket.
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
            )
        self.kms_key_arn = self.kms_key.arn if self.kms_key is not None else None
        self.bucket = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(
                bucket_name=settings.bucket_name(args.environment),
                encryption=settings.encryption,
                kms_key_arn=self.kms_key_arn,
                lifecycle_rules=backup_lifecycle_rules(settings),
                protect=args.protect,
                tags=tags,
            ),
            opts=child,
        )
        self.job_user = iam.User(f"{name}-job", name=f"websys-{args.environment}-backup-job", tags=tags, opts=child)
        kms_key_arn = self.kms_key_arn
        policy = (
            pulumi.Output.all(self.bucket.bucket_arn, kms_key_arn)
            if kms_key_arn is not None
            else pulumi.Output.all(self.bucket.bucket_arn, None)
        )
        self.job_policy = iam.UserPolicy(
            f"{name}-job-policy",
            user=self.job_user.name,
            policy=policy.apply(lambda values: render_backup_user_policy(values[0], settings.prefix, values[1])),
            opts=child,
        )
        self.job_key = iam.AccessKey(f"{name}-job-key", user=self.job_user.name, opts=child)
        self.bucket_name = self.bucket.bucket_name
        self.bucket_arn = self.bucket.bucket_arn
        self.access_key_id = self.job_key.id
        self.secret_access_key = pulumi.Output.secret(self.job_key.secret)
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "kms_key_arn": self.kms_key_arn,
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
            }
        )
