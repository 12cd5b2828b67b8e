"""S3 bucket rules. In pulumi-aws v7 a bucket's settings are separate resources (side resources); a side
resource belongs to the bucket its `bucket` input names, exactly. A bucket needs one of each kind,
and every one of them must be sound: a second, permissive side resource for a bucket is reported
even when the first is fine (the provider applies both; the last one written wins)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, PolicyResource, ReportViolation, Severity, StackValidationArgs

from .base import stack_policy
from .common import BUCKET, as_int, as_list, as_map, as_str, is_true
from .documents import allows, document, is_public_principal, statements, values

S3 = "aws:s3/"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GROUPS = ("/global/AllUsers", "/global/AuthenticatedUsers")

SideCheck = Callable[[Mapping[str, Any]], str | None]


def bucket_name(bucket: PolicyResource) -> str:
    return as_str(bucket.props.get("bucket")).strip()


def side_resources(args: StackValidationArgs, bucket: PolicyResource, side_type: str) -> list[PolicyResource]:
    """The side resources of `side_type` whose `bucket` input is exactly this bucket's name."""
    name = bucket_name(bucket)
    return [
        r for r in args.resources if r.resource_type == side_type and name and as_str(r.props.get("bucket")) == name
    ]


def buckets(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == BUCKET]


def _inline_rules(bucket: PolicyResource) -> list[Mapping[str, Any]]:
    """The bucket's own (deprecated, inline) lifecycle rules, in the side resource's shape."""
    rules: list[Mapping[str, Any]] = []
    for rule in (as_map(r) for r in as_list(bucket.props.get("lifecycleRules"))):
        old = as_map(rule.get("noncurrentVersionExpiration"))
        rules.append(
            {
                "id": rule.get("id"),
                "status": "Enabled" if is_true(rule.get("enabled")) else "Disabled",
                "prefix": rule.get("prefix"),
                "expiration": rule.get("expiration"),
                **({"noncurrentVersionExpiration": {"noncurrentDays": old.get("days")}} if old else {}),
            }
        )
    return rules


def _inline_setting(bucket: PolicyResource, side_type: str) -> str | None:
    """What the bucket's own (deprecated, inline) settings undo of a side resource of `side_type`."""
    if side_type == VERSIONING and as_map(bucket.props.get("versioning")).get("enabled") is False:
        return "the bucket's own versioning block disables versioning"
    return None


def _bucket_rule(side_type: str, what: str, check: SideCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """Each bucket needs at least one side resource of `side_type`, and every one must pass `check`."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for bucket in buckets(args):
            inline = _inline_setting(bucket, side_type)
            if inline:
                report(f"bucket {bucket.name!r}: {inline}", bucket.urn)
            if not bucket_name(bucket):
                report(f"bucket {bucket.name!r} has no explicit name, so no {what} can be matched to it", bucket.urn)
                continue
            sides = side_resources(args, bucket, side_type)
            if not sides:
                report(f"bucket {bucket.name!r} has no {what} of its own", bucket.urn)
            for side in sides:
                problem = check(side.props)
                if problem:
                    report(f"bucket {bucket.name!r}: {side.name!r}: {problem}", side.urn)

    return validate


def _public_access(props: Mapping[str, Any]) -> str | None:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [flag for flag in flags if props.get(flag) is not True]
    return f"public access block leaves {', '.join(off)} off" if off else None


def _encryption(props: Mapping[str, Any]) -> str | None:
    rules = [as_map(rule) for rule in as_list(props.get("rules"))]
    algorithms = [as_str(as_map(r.get("applyServerSideEncryptionByDefault")).get("sseAlgorithm")) for r in rules]
    if algorithms and all(a in ("aws:kms", "aws:kms:dsse", "AES256") for a in algorithms):
        return None
    return "server-side encryption has no aws:kms or AES256 default"


def _versioning(props: Mapping[str, Any]) -> str | None:
    status = as_map(props.get("versioningConfiguration")).get("status")
    return None if status == "Enabled" else f"versioning status is {as_str(status)!r}, not 'Enabled'"


def _enabled_rules(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in (as_map(x) for x in as_list(props.get("rules"))) if r.get("status") == "Enabled"]


def _lifecycle(props: Mapping[str, Any]) -> str | None:
    rules = _enabled_rules(props)
    missing = []
    if not any(as_int(as_map(r.get("expiration")).get("days")) > 0 for r in rules):
        missing.append("expiration")
    if not any(as_int(as_map(r.get("noncurrentVersionExpiration")).get("noncurrentDays")) > 0 for r in rules):
        missing.append("noncurrent-version expiration")
    if not any(as_int(as_map(r.get("abortIncompleteMultipartUpload")).get("daysAfterInitiation")) > 0 for r in rules):
        missing.append("abort of incomplete multipart uploads")
    return f"lifecycle lacks {', '.join(missing)}" if missing else None


def _tls_only(props: Mapping[str, Any]) -> str | None:
    doc = document(props.get("policy"))
    if doc is None:
        return "bucket policy is not a JSON policy document"
    for statement in statements(doc):
        secure = as_map(as_map(statement.get("Condition")).get("Bool")).get("aws:SecureTransport")
        denies_all = statement.get("Effect") == "Deny" and statement.get("Principal") == "*"
        if denies_all and as_str(secure).lower() == "false" and "s3:*" in values(statement.get("Action")):
            return None
    return "bucket policy does not deny every request made without TLS (s3:* when aws:SecureTransport is false)"


def _ownership(props: Mapping[str, Any]) -> str | None:
    ownership = as_map(props.get("rule")).get("objectOwnership")
    return (
        None
        if ownership == "BucketOwnerEnforced"
        else f"object ownership is {as_str(ownership)!r}, not BucketOwnerEnforced"
    )


def _public_grants(args: StackValidationArgs, report: ReportViolation) -> None:
    """No bucket policy (a BucketPolicy, or a bucket's own legacy `policy`) grants to everyone, and no
    ACL is public."""
    for resource in args.resources:
        if resource.resource_type in (BUCKET_POLICY, BUCKET) and resource.props.get("policy") is not None:
            doc = document(resource.props.get("policy"))
            if doc is None:
                report(f"{resource.name!r}: bucket policy is not a JSON policy document", resource.urn)
                continue
            for index, statement in enumerate(statements(doc)):
                if not allows(statement):
                    continue
                if "NotPrincipal" in statement:
                    report(f"{resource.name!r}: statement {index} allows everyone but NotPrincipal", resource.urn)
                elif is_public_principal(statement.get("Principal")):
                    report(f"{resource.name!r}: statement {index} allows Principal * (anyone)", resource.urn)
        if resource.resource_type in (BUCKET, BUCKET_ACL):
            acl = as_str(resource.props.get("acl")).strip().lower()
            if acl in PUBLIC_ACLS:
                report(f"{resource.name!r}: canned ACL {acl!r} makes objects public", resource.urn)
            for grant in (as_map(g) for g in as_list(resource.props.get("grants"))):
                if any(group in as_str(grant.get("uri")) for group in PUBLIC_GROUPS):
                    report(f"{resource.name!r}: an ACL grant to {as_str(grant.get('uri'))!r}", resource.urn)


def _prefix(rule: Mapping[str, Any]) -> str:
    """The object prefix a lifecycle rule applies to ("" when it applies to every object)."""
    flt = as_map(rule.get("filter"))
    return as_str(flt.get("prefix") or as_map(flt.get("and")).get("prefix") or rule.get("prefix"))


# Pack config of s3-retention: {"buckets": {"<bucket URN>": {"<prefix>": {"expirationDays": N, "noncurrentDays": M}}}}
RETENTION_SCHEMA = PolicyConfigSchema(
    properties={
        "buckets": {
            "type": "object",
            "description": "Per bucket URN, per object prefix: the fewest days objects and old versions are kept.",
            "additionalProperties": {"type": "object"},
        }
    }
)


def _retention(args: StackValidationArgs, report: ReportViolation) -> None:
    """No enabled lifecycle rule that reaches a prefix expires it sooner than the stack keeps it."""
    expected = as_map(as_map(args.get_config()).get("buckets"))
    by_urn = {b.urn: b for b in buckets(args)}
    for urn, prefixes in sorted(expected.items()):
        bucket = by_urn.get(urn)
        if bucket is None:
            continue  # a missing bucket is backups-and-monitoring's finding
        sides = [side.props for side in side_resources(args, bucket, LIFECYCLE)]
        rules = [r for props in [*sides, {"rules": _inline_rules(bucket)}] for r in _enabled_rules(props)]
        for prefix, given in sorted(as_map(prefixes).items()):
            floor = as_map(given)
            days, noncurrent = as_int(floor.get("expirationDays")), as_int(floor.get("noncurrentDays"))
            for rule in rules:
                reach = _prefix(rule)
                if not (prefix.startswith(reach) or reach.startswith(prefix)):
                    continue
                expiration = as_map(rule.get("expiration"))
                kept = as_int(expiration.get("days"), default=-1) if "days" in expiration else None
                old = as_map(rule.get("noncurrentVersionExpiration"))
                old_kept = as_int(old.get("noncurrentDays"), default=-1) if "noncurrentDays" in old else None
                where = f"bucket {bucket.name!r}, rule {as_str(rule.get('id'))!r} on {reach or 'every object'!r}"
                if expiration.get("date") is not None:
                    report(f"{where}: expires objects on a fixed date; {prefix!r} is kept {days} days", bucket.urn)
                if kept is not None and kept < days:
                    report(f"{where}: expires {prefix!r} after {kept} days; the stack keeps it {days}", bucket.urn)
                if old_kept is not None and old_kept < noncurrent:
                    report(
                        f"{where}: expires old versions of {prefix!r} after {old_kept} days; the stack keeps them "
                        f"{noncurrent}",
                        bucket.urn,
                    )


LIST_SCHEMA = PolicyConfigSchema(
    properties={
        "buckets": {
            "type": "object",
            "description": "Bucket URNs this rule applies to, each with the reason.",
            "additionalProperties": {"type": "string"},
        }
    }
)


def _object_lock(args: StackValidationArgs, report: ReportViolation) -> None:
    listed = as_map(as_map(args.get_config()).get("buckets"))
    for bucket in buckets(args):
        if bucket.urn in listed and not is_true(bucket.props.get("objectLockEnabled")):
            report(f"bucket {bucket.name!r} must keep Object Lock enabled ({as_str(listed[bucket.urn])})", bucket.urn)


def _no_force_destroy(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in buckets(args):
        if bucket.props.get("forceDestroy") not in (None, False):
            report(f"bucket {bucket.name!r} sets forceDestroy: deleting it would delete every object", bucket.urn)


def _side_policy(name: str, description: str, side_type: str, what: str, check: SideCheck, remediation: str) -> Any:
    return stack_policy(name, description, _bucket_rule(side_type, what, check), Severity.HIGH, remediation)


STORAGE_POLICIES = [
    _side_policy(
        "s3-public-access-block",
        "Every bucket blocks public access with all four flags (each of its own access blocks).",
        PUBLIC_ACCESS_BLOCK,
        "public access block",
        _public_access,
        "Add aws.s3.BucketPublicAccessBlock with all four flags true.",
    ),
    _side_policy(
        "s3-encryption",
        "Every bucket encrypts objects at rest by default.",
        ENCRYPTION,
        "server-side encryption configuration",
        _encryption,
        "Add aws.s3.BucketServerSideEncryptionConfiguration with aws:kms (or AES256).",
    ),
    _side_policy(
        "s3-versioning",
        "Every bucket keeps versions.",
        VERSIONING,
        "versioning",
        _versioning,
        "Add aws.s3.BucketVersioning with status Enabled.",
    ),
    _side_policy(
        "s3-lifecycle",
        "Every bucket expires objects and noncurrent versions and aborts stale uploads.",
        LIFECYCLE,
        "lifecycle configuration",
        _lifecycle,
        "Add aws.s3.BucketLifecycleConfiguration with expiration, noncurrent_version_expiration and "
        "abort_incomplete_multipart_upload in an enabled rule.",
    ),
    _side_policy(
        "s3-tls-only",
        "Every bucket denies requests made without TLS.",
        BUCKET_POLICY,
        "bucket policy",
        _tls_only,
        'Add a BucketPolicy statement: Deny s3:* to Principal "*" when "aws:SecureTransport" is "false".',
    ),
    _side_policy(
        "s3-ownership-controls",
        "Every bucket enforces bucket-owner ownership (ACLs off).",
        OWNERSHIP,
        "ownership controls",
        _ownership,
        "Add aws.s3.BucketOwnershipControls with BucketOwnerEnforced.",
    ),
    stack_policy(
        "s3-no-public-policy",
        "No bucket policy allows Principal * (in any spelling) or uses NotPrincipal to allow; no public ACL.",
        _public_grants,
        Severity.CRITICAL,
        'Grant to named IAM principals only; statements with Principal "*" must have Effect Deny.',
    ),
    stack_policy(
        "s3-retention",
        "No lifecycle rule expires a prefix, or its old versions, sooner than the stack's retention "
        "(per bucket URN in the pack config).",
        _retention,
        Severity.HIGH,
        "Keep the lifecycle's expiration and noncurrent-version days at or above the pack config's values; "
        "lowering retention is a reviewed change of policy/config/<stack>.json.",
        schema=RETENTION_SCHEMA,
    ),
    stack_policy(
        "s3-object-lock",
        "The buckets the pack config lists (the compliance log archive) keep Object Lock enabled.",
        _object_lock,
        Severity.CRITICAL,
        "Create the bucket with object_lock_enabled=True (it cannot be turned on later without support).",
        schema=LIST_SCHEMA,
    ),
    stack_policy(
        "s3-no-force-destroy",
        "No bucket sets forceDestroy (deleting the bucket would delete its objects and versions).",
        _no_force_destroy,
        Severity.CRITICAL,
        "Set force_destroy=False; empty a bucket deliberately, never as a side effect of deleting it.",
    ),
]
