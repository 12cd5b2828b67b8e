"""A private, encrypted, versioned S3 bucket: the hardening every bucket of the platform shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from components.aws_s3 import s3
from websys.backup.policies import AuditLock, render_bucket_policy, sse_algorithm


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket_name: str
    encryption: Literal["kms", "AES256"]
    kms_key_arn: pulumi.Input[str] | None
    lifecycle_rules: Sequence[s3.BucketLifecycleConfigurationRuleArgs]
    object_lock: bool = False  # S3 Object Lock can only be turned on when the bucket is created
    audit_lock: AuditLock | None = None
    protect: bool = False  # production: `pulumi destroy` refuses, and deleting it from the program keeps it
    tags: Mapping[str, str] = field(default_factory=dict)


class SecureBucket(pulumi.ComponentResource):
    """Versioning on; default encryption (KMS with bucket keys, or AES256); all four public access
    blocks; ACLs disabled (BucketOwnerEnforced); a policy that refuses plain HTTP and uploads without
    the bucket's encryption header; and the caller's lifecycle rules."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:s3_bucket:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = s3.Bucket(
            name,
            bucket=args.bucket_name,
            object_lock_enabled=True if args.object_lock else None,
            force_destroy=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.versioning = s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        self.encryption = s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm=sse_algorithm(args.encryption),
                        kms_master_key_id=args.kms_key_arn if args.encryption == "kms" else None,
                    ),
                    bucket_key_enabled=args.encryption == "kms",  # fewer KMS calls, lower cost
                )
            ],
            opts=child,
        )
        self.public_access_block = s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.ownership = s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        audit_lock, encryption = args.audit_lock, args.encryption
        self.policy = s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: render_bucket_policy(arn, encryption, audit_lock)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        self.lifecycle = s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=list(args.lifecycle_rules),
            # Noncurrent-version rules need versioning in place first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
