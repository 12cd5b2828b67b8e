"""IAM and bucket policy documents, rendered from ARNs and settings (pure functions, no Pulumi)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KMS = "aws:kms"
AES256 = "AES256"


@dataclass(frozen=True)
class AuditLock:
    """Uploads under `prefix` must carry COMPLIANCE-mode Object Lock retention of at least `days`."""

    prefix: str
    days: int


def sse_algorithm(encryption: str) -> str:
    """The `x-amz-server-side-encryption` value for the settings' `kms` or `AES256`."""
    return KMS if encryption == "kms" else AES256


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2, sort_keys=True)


def render_bucket_policy(bucket_arn: str, encryption: str, audit_lock: AuditLock | None = None) -> str:
    """Deny anything over plain HTTP, and uploads that do not ask for the bucket's encryption."""
    objects = f"{bucket_arn}/*"
    algorithm = sse_algorithm(encryption)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyUnencryptedUploads",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
        },
        {
            "Sid": "DenyOtherEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": algorithm}},
        },
    ]
    if audit_lock is not None:
        locked = f"{bucket_arn}/{audit_lock.prefix.strip('/')}/*"
        statements += [
            {
                "Sid": "DenyAuditWithoutComplianceLock",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": locked,
                "Condition": {"StringNotEqualsIfExists": {"s3:object-lock-mode": "COMPLIANCE"}},
            },
            {
                "Sid": "DenyAuditWithoutLockMode",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": locked,
                "Condition": {"Null": {"s3:object-lock-mode": "true"}},
            },
            {
                "Sid": "DenyAuditShortRetention",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject", "s3:PutObjectRetention"],
                "Resource": locked,
                "Condition": {"NumericLessThan": {"s3:object-lock-remaining-retention-days": str(audit_lock.days)}},
            },
        ]
    return _document(statements)


def render_backup_user_policy(bucket_arn: str, prefix: str, kms_key_arn: str | None) -> str:
    """The backup job's rights: its own prefix only; write, read and list; never delete.

    Expiry is the lifecycle's job, so stolen job credentials cannot erase the backups.
    """
    scoped = f"{bucket_arn}/{prefix.strip('/')}/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListOwnPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix.strip('/')}/", f"{prefix.strip('/')}/*"]}},
        },
        {
            "Sid": "ReadWriteOwnPrefix",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            "Resource": scoped,
        },
    ]
    if kms_key_arn is not None:
        statements.append(
            {
                "Sid": "UseBackupKey",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": kms_key_arn,
            }
        )
    return _document(statements)
