"""Rules for the credentials and keys that guard the data: IAM policies stay narrow, the KMS key stays."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs, Severity

from .base import resource_policy
from .common import as_int, as_list, as_map, as_str, environment, is_true
from .documents import allows, document, statements, values, well_formed

KMS_KEY = "aws:kms/key:Key"
# Resources whose `policy` input is an IAM policy document.
POLICY_DOCUMENTS = frozenset(
    {
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/groupPolicy:GroupPolicy",
        "aws:iam/policy:Policy",
    }
)
ATTACHMENTS = frozenset(
    {
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)
ROLE = "aws:iam/role:Role"
# Actions that delete data or weaken what protects it; the backup job writes and reads, nothing more.
DESTRUCTIVE = re.compile(
    r"^(s3:(Delete.*|PutBucketPolicy|PutLifecycleConfiguration|PutBucketVersioning|PutObjectRetention"
    r"|PutObjectLegalHold|BypassGovernanceRetention|PutBucketObjectLockConfiguration|PutEncryptionConfiguration"
    r"|PutBucketAcl|PutObjectAcl|PutBucketPublicAccessBlock|PutBucketOwnershipControls)"
    r"|kms:(ScheduleKeyDeletion|DisableKey|DisableKeyRotation|PutKeyPolicy|CreateGrant|Delete.*|RetireGrant)"
    r"|iam:.*|sts:AssumeRole.*|organizations:.*)$",
    re.IGNORECASE,
)
# AWS managed policies that give administrator or whole-service rights.
BROAD_MANAGED = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(.*/)?(AdministratorAccess|PowerUserAccess|.*FullAccess)$")


def _wildcard_resource(resource: str) -> bool:
    """ "*", or an ARN whose partition, service, region, account or whole resource part is a wildcard, or
    an S3 ARN whose bucket name has one (a prefix wildcard such as bucket/postgres/* is narrow)."""
    if resource.strip() == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return True  # not an ARN AWS would scope
    if any("*" in part or "?" in part for part in parts[1:3]) or parts[3] in ("*",) or parts[4] in ("*",):
        return True
    rest = parts[5]
    if parts[2] == "s3":
        return "*" in rest.split("/", 1)[0] or "?" in rest.split("/", 1)[0]
    return rest.replace("key/", "", 1).strip("/") in ("*", "") or rest.startswith("*")


def _document_findings(doc: Mapping[str, Any]) -> list[str]:
    findings = [] if well_formed(doc) else ["Statement is not an object or a list of objects"]
    for index, statement in enumerate(statements(doc)):
        if not allows(statement):
            continue
        where = f"statement {index}"
        for element in ("NotAction", "NotResource", "NotPrincipal"):
            if element in statement:
                findings.append(f"{where} allows with {element} (everything but a list)")
        actions = values(statement.get("Action"))
        if not actions and "NotAction" not in statement:
            findings.append(f"{where} has no Action")
        for action in actions:
            if "*" in action or "?" in action:
                findings.append(f"{where} allows wildcard action {action!r}")
            elif DESTRUCTIVE.match(action.strip()):
                findings.append(f"{where} allows {action!r}, which deletes data or weakens its protection")
        resources = values(statement.get("Resource"))
        if not resources and "NotResource" not in statement:
            findings.append(f"{where} has no Resource")
        findings.extend(f"{where} allows wildcard resource {r!r}" for r in resources if _wildcard_resource(r))
    return findings


def _iam_least_privilege(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = as_map(args.props)
    docs: list[Any] = []
    if args.resource_type in POLICY_DOCUMENTS:
        docs.append(props.get("policy"))
    elif args.resource_type == ROLE:
        docs.extend(as_map(p).get("policy") for p in as_list(props.get("inlinePolicies")))
        for arn in values(props.get("managedPolicyArns")):
            if BROAD_MANAGED.match(arn.strip()):
                report(f"role {args.name!r} attaches the broad managed policy {arn!r}", None)
    elif args.resource_type in ATTACHMENTS:
        arn = as_str(props.get("policyArn")).strip()
        if BROAD_MANAGED.match(arn):
            report(f"{args.name!r} attaches the broad managed policy {arn!r}", None)
        return
    else:
        return
    for raw in docs:
        doc = document(raw)
        if doc is None:
            report(f"{args.name!r}: the IAM policy is not a JSON policy document", None)
            continue
        for finding in _document_findings(doc):
            report(f"{args.name!r}: {finding}", None)


KMS_SCHEMA = PolicyConfigSchema(
    properties={
        "minDeletionWindowDays": {"type": "integer", "minimum": 7, "maximum": 30},
        "protect": {"type": "boolean"},
    }
)
DEFAULT_DELETION_WINDOW = 30


def _kms_key(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KMS_KEY:
        return
    props, config = as_map(args.props), as_map(args.get_config())
    minimum = as_int(config.get("minDeletionWindowDays"), DEFAULT_DELETION_WINDOW)
    # Unprotected keys are allowed only where the stack's pack config says so (development).
    must_protect = config.get("protect") is not False or environment() != "development"
    if not is_true(props.get("enableKeyRotation")):
        report(f"KMS key {args.name!r} does not rotate (enableKeyRotation is not true)", None)
    window = as_int(props.get("deletionWindowInDays"), default=0)
    if window < minimum:
        shown = window if "deletionWindowInDays" in props else "unset (AWS: 30, but the program must say)"
        report(f"KMS key {args.name!r} has deletion window {shown}; at least {minimum} days", None)
    if props.get("isEnabled") is False:
        report(f"KMS key {args.name!r} is disabled: every backup it encrypts is unreadable", None)
    if is_true(props.get("bypassPolicyLockoutSafetyCheck")):
        report(f"KMS key {args.name!r} bypasses the key policy lockout safety check", None)
    if must_protect and not args.opts.protect:
        report(f"KMS key {args.name!r} is not protected: deleting it destroys every backup", None)


IAM_POLICIES = [
    resource_policy(
        "iam-least-privilege",
        "IAM policies (the backup job's user) allow no wildcard actions or resources, no deletes or changes to "
        "the data's protection, and no broad managed policies (administrator, *FullAccess).",
        _iam_least_privilege,
        Severity.CRITICAL,
        "List the exact actions (s3:PutObject, s3:GetObject, ...) on the backup prefix's ARN and the key's ARN.",
    ),
    resource_policy(
        "kms-key-protected",
        "KMS keys rotate, keep a deletion window of at least the pack config's days (30), and are protected "
        "outside development.",
        _kms_key,
        Severity.CRITICAL,
        "Create the key with enable_key_rotation=True, deletion_window_in_days=30 and "
        "ResourceOptions(protect=True, retain_on_delete=True).",
        schema=KMS_SCHEMA,
    ),
]
