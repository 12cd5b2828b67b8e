"""S3 bucket rules. In pulumi-aws v7 a bucket's settings are separate resources, so each rule is a
stack policy that joins every bucket to the side resources that name it (by dependency)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import BUCKET

S3 = "aws:s3/"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"

SideCheck = Callable[[Mapping[str, Any]], str | None]


def _side_resources(args: StackValidationArgs, bucket: PolicyResource, side_type: str) -> list[PolicyResource]:
    return [
        r
        for r in args.resources
        if r.resource_type == side_type and any(dep.urn == bucket.urn for dep in r.dependencies)
    ]


def _bucket_rule(side_type: str, what: str, check: SideCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """Each bucket needs one side resource of `side_type` for which `check` finds nothing wrong."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for bucket in (r for r in args.resources if r.resource_type == BUCKET):
            sides = _side_resources(args, bucket, side_type)
            if not sides:
                report(f"bucket {bucket.name!r} has no {what}", bucket.urn)
                continue
            problems = [p for p in (check(side.props) for side in sides) if p]
            if len(problems) == len(sides):
                report(f"bucket {bucket.name!r}: {problems[0]}", bucket.urn)

    return validate


def _public_access(props: Mapping[str, Any]) -> str | None:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [flag for flag in flags if props.get(flag) is not True]
    return f"public access block leaves {', '.join(off)} off" if off else None


def _encryption(props: Mapping[str, Any]) -> str | None:
    for rule in props.get("rules") or []:
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        if default.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse", "AES256"):
            return None
    return "server-side encryption has no aws:kms or AES256 default"


def _versioning(props: Mapping[str, Any]) -> str | None:
    status = (props.get("versioningConfiguration") or {}).get("status")
    return None if status == "Enabled" else f"versioning status is {status!r}, not 'Enabled'"


def _lifecycle(props: Mapping[str, Any]) -> str | None:
    rules = [r for r in props.get("rules") or [] if r.get("status") == "Enabled"]
    missing = []
    if not any((r.get("expiration") or {}).get("days") for r in rules):
        missing.append("expiration")
    if not any((r.get("noncurrentVersionExpiration") or {}).get("noncurrentDays") for r in rules):
        missing.append("noncurrent-version expiration")
    if not any((r.get("abortIncompleteMultipartUpload") or {}).get("daysAfterInitiation") for r in rules):
        missing.append("abort of incomplete multipart uploads")
    return f"lifecycle lacks {', '.join(missing)}" if missing else None


def _tls_only(props: Mapping[str, Any]) -> str | None:
    try:
        document = json.loads(str(props.get("policy") or "{}"))
    except json.JSONDecodeError:
        return "bucket policy is not valid JSON"
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false":
            return None
    return "bucket policy does not deny requests without TLS (aws:SecureTransport false)"


def _ownership(props: Mapping[str, Any]) -> str | None:
    ownership = (props.get("rule") or {}).get("objectOwnership")
    return None if ownership == "BucketOwnerEnforced" else f"object ownership is {ownership!r}, not BucketOwnerEnforced"


def _policy(
    name: str, description: str, side_type: str, what: str, check: SideCheck, remediation: str
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=_bucket_rule(side_type, what, check),
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        remediation_steps=remediation,
    )


STORAGE_POLICIES = [
    _policy(
        "s3-public-access-block",
        "Every bucket blocks public access with all four flags.",
        PUBLIC_ACCESS_BLOCK,
        "public access block",
        _public_access,
        "Add aws.s3.BucketPublicAccessBlock with all four flags true.",
    ),
    _policy(
        "s3-encryption",
        "Every bucket encrypts objects at rest by default.",
        ENCRYPTION,
        "server-side encryption configuration",
        _encryption,
        "Add aws.s3.BucketServerSideEncryptionConfiguration with aws:kms (or AES256).",
    ),
    _policy(
        "s3-versioning",
        "Every bucket keeps versions.",
        VERSIONING,
        "versioning",
        _versioning,
        "Add aws.s3.BucketVersioning with status Enabled.",
    ),
    _policy(
        "s3-lifecycle",
        "Every bucket expires objects and noncurrent versions and aborts stale uploads.",
        LIFECYCLE,
        "lifecycle configuration",
        _lifecycle,
        "Add aws.s3.BucketLifecycleConfiguration with expiration, noncurrent_version_expiration and "
        "abort_incomplete_multipart_upload in an enabled rule.",
    ),
    _policy(
        "s3-tls-only",
        "Every bucket denies requests made without TLS.",
        BUCKET_POLICY,
        "bucket policy",
        _tls_only,
        'Add a BucketPolicy statement: Deny s3:* when "aws:SecureTransport" is "false".',
    ),
    _policy(
        "s3-ownership-controls",
        "Every bucket enforces bucket-owner ownership (ACLs off).",
        OWNERSHIP,
        "ownership controls",
        _ownership,
        "Add aws.s3.BucketOwnershipControls with BucketOwnerEnforced.",
    ),
]
