"""The compliance log archive: access, error and audit logs kept for the guide's periods, by prefix."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.aws_s3 import s3
from components.s3_bucket import SecureBucket, SecureBucketArgs
from websys.backup.policies import AuditLock
from websys.settings.backup import BackupSettings

ACCESS_PREFIX = "access"
ERROR_PREFIX = "error"
AUDIT_PREFIX = "audit"


@dataclass(frozen=True)
class LogArchiveArgs:
    environment: str
    settings: BackupSettings
    kms_key_arn: pulumi.Input[str] | None
    protect: bool


def log_lifecycle_rules(settings: BackupSettings) -> list[s3.BucketLifecycleConfigurationRuleArgs]:
    """One expiry per prefix (365, 730 and 1,825 days by default), plus cleanup of old versions and stalled uploads."""
    retention = settings.log_retention
    rules = [
        s3.BucketLifecycleConfigurationRuleArgs(
            id=f"expire-{prefix}-logs",
            status="Enabled",
            filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{prefix}/"),
            expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
            # An overwritten log version is kept as long as the log itself would be.
            noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=days
            ),
        )
        for prefix, days in (
            (ACCESS_PREFIX, retention.access_days),
            (ERROR_PREFIX, retention.error_days),
            (AUDIT_PREFIX, retention.audit_days),
        )
    ]
    rules.append(
        s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=settings.abort_incomplete_upload_days
            ),
        )
    )
    return rules


class LogArchive(pulumi.ComponentResource):
    """With `objectLock` (production), the bucket has S3 Object Lock and its policy refuses any audit
    log upload that is not locked in COMPLIANCE mode for at least the audit retention: not even the
    account's root user can shorten or delete it before then."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LogArchiveArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:log_archive:LogArchive", name, None, opts)
        settings = args.settings
        audit_lock = AuditLock(AUDIT_PREFIX, settings.log_retention.audit_days) if settings.object_lock else None
        self.bucket = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(
                bucket_name=settings.log_bucket_name(args.environment),
                encryption=settings.encryption,
                kms_key_arn=args.kms_key_arn,
                lifecycle_rules=log_lifecycle_rules(settings),
                object_lock=settings.object_lock,
                audit_lock=audit_lock,
                protect=args.protect,
                tags={"websys:environment": args.environment, "websys:purpose": "compliance-log-archive"},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_name = self.bucket.bucket_name
        self.bucket_arn = self.bucket.bucket_arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
