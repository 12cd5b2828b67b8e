"""Adversarial cases for the storage, IAM and stack rules, judged by the real pack over the Analyzer
protocol. Each bucket case is a bucket of its own (a copy of the recorded backup bucket and its side
resources under new names), so many cases share one run; the test's own pack config carries the
retention, Object Lock and required resources it checks against."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.policy_support import Case, PlanDoc, Resource, by_urn, copy_as, find, judge, run_policy
from websys.plan import Plan

BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
RETENTION_DAYS, NONCURRENT_DAYS = 40, 9  # the test's own retention for its buckets' data/ prefix

Group = dict[str, list[Resource]]  # type -> resources of one case bucket


def _bucket_group(plan: PlanDoc, case: str) -> Group:
    """A copy of the recorded backup bucket and each of its side resources, named for `case`."""
    bucket = find(plan, "backups-bucket")
    old, new = bucket["inputs"]["bucket"], f"websys-case-{case}"
    group: Group = {}
    for r in plan["resources"]:
        if r is bucket or (r["type"].startswith("aws:s3/") and r["inputs"].get("bucket") == old):
            twin = copy_as(r, r["name"].replace("backups-bucket", f"case-{case}-bucket"))
            twin["inputs"] = json.loads(json.dumps(twin["inputs"]).replace(old, new))
            twin["dependencies"] = []
            group.setdefault(r["type"], []).append(twin)
    rules = group[LIFECYCLE][0]["inputs"]["rules"]
    rules[0].update(filter={"prefix": "data/"}, expiration={"days": RETENTION_DAYS})
    rules[0]["noncurrentVersionExpiration"] = {"noncurrentDays": NONCURRENT_DAYS}
    return group


def _policy_doc(group: Group) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(group[POLICY][0]["inputs"]["policy"])
    return document


def _grant(principal: Any, effect: str = "Allow", key: str = "Principal") -> Callable[[Group], None]:
    def mutate(group: Group) -> None:
        doc = _policy_doc(group)
        doc["Statement"].append({"Effect": effect, key: principal, "Action": "s3:GetObject", "Resource": "*"})
        group[POLICY][0]["inputs"]["policy"] = json.dumps(doc)

    return mutate


def _second(side: str, **inputs: Any) -> Callable[[Group], None]:
    def mutate(group: Group) -> None:
        twin = copy_as(group[side][0], group[side][0]["name"] + "-second")
        twin["inputs"].update(inputs)
        group[side].append(twin)

    return mutate


def _lifecycle(change: Callable[[list[dict[str, Any]]], None]) -> Callable[[Group], None]:
    def mutate(group: Group) -> None:
        change(group[LIFECYCLE][0]["inputs"]["rules"])

    return mutate


def _bucket(**inputs: Any) -> Callable[[Group], None]:
    def mutate(group: Group) -> None:
        group[BUCKET][0]["inputs"].update(inputs)

    return mutate


def _drop(side: str) -> Callable[[Group], None]:
    def mutate(group: Group) -> None:
        del group[side]

    return mutate


def _policy_text(text: Any) -> Callable[[Group], None]:
    def mutate(group: Group) -> None:
        group[POLICY][0]["inputs"]["policy"] = text

    return mutate


STORAGE_CASES = [
    Case("principal-star", _grant("*"), "s3-no-public-policy"),
    Case("principal-aws-star", _grant({"AWS": "*"}), "s3-no-public-policy"),
    Case("principal-list-with-star", _grant({"AWS": ["arn:aws:iam::123456789012:root", "*"]}), "s3-no-public-policy"),
    Case("principal-star-lower-case-effect", _grant(["*"], effect="allow"), "s3-no-public-policy"),
    Case(
        "not-principal-allow",
        _grant({"AWS": "arn:aws:iam::123456789012:root"}, key="NotPrincipal"),
        "s3-no-public-policy",
    ),
    Case("public-acl", _bucket(acl="public-read"), "s3-no-public-policy"),
    Case("second-permissive-access-block", _second(PAB, blockPublicPolicy=False), "s3-public-access-block"),
    Case(
        "second-suspended-versioning",
        _second(VERSIONING, versioningConfiguration={"status": "Suspended"}),
        "s3-versioning",
    ),
    Case("second-encryption-without-default", _second(ENCRYPTION, rules=[{"bucketKeyEnabled": True}]), "s3-encryption"),
    Case("second-policy-without-tls-deny", _second(POLICY, policy=json.dumps({"Statement": []})), "s3-tls-only"),
    Case("missing-own-access-block", _drop(PAB), "s3-public-access-block"),
    Case("missing-own-versioning", _drop(VERSIONING), "s3-versioning"),
    Case(
        "retention-cut",
        _lifecycle(lambda rules: rules[0].update(expiration={"days": RETENTION_DAYS - 1})),
        "s3-retention",
    ),
    Case(
        "noncurrent-cut",
        _lifecycle(lambda rules: rules[0].update(noncurrentVersionExpiration={"noncurrentDays": 1})),
        "s3-retention",
    ),
    Case(
        "catch-all-rule-expires-sooner",
        _lifecycle(
            lambda rules: rules.append(
                {"id": "x", "status": "Enabled", "filter": {"prefix": ""}, "expiration": {"days": 1}}
            )
        ),
        "s3-retention",
    ),
    Case(
        "parent-prefix-expires-sooner",
        _lifecycle(
            lambda rules: rules.append(
                {"id": "x", "status": "Enabled", "filter": {"prefix": "da"}, "expiration": {"days": 2}}
            )
        ),
        "s3-retention",
    ),
    Case(
        "fixed-date-expiry",
        _lifecycle(lambda rules: rules[0].update(expiration={"date": "2027-01-01"})),
        "s3-retention",
    ),
    Case(
        "inline-lifecycle-expires-sooner",
        _bucket(lifecycleRules=[{"enabled": True, "prefix": "data/", "expiration": {"days": 3}}]),
        "s3-retention",
    ),
    Case(
        "inline-noncurrent-sooner",
        _bucket(lifecycleRules=[{"enabled": True, "noncurrentVersionExpiration": {"days": 1}}]),
        "s3-retention",
    ),
    Case("inline-versioning-off", _bucket(versioning={"enabled": False}), "s3-versioning"),
    Case(
        "grant-to-all-users",
        _bucket(
            grants=[
                {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers", "permissions": ["READ"]}
            ]
        ),
        "s3-no-public-policy",
    ),
    Case("object-lock-removed", _bucket(objectLockEnabled=False), "s3-object-lock"),
    Case("force-destroy", _bucket(forceDestroy=True), "s3-no-force-destroy"),
    Case("force-destroy-text", _bucket(forceDestroy="true"), "s3-no-force-destroy"),
    Case("policy-not-json", _policy_text("{not json"), "s3-no-public-policy"),
    Case("policy-a-number", _policy_text(12345), "s3-tls-only"),
    Case(
        "accepts-unchanged-retention",
        _lifecycle(lambda rules: rules[0].update(expiration={"days": RETENTION_DAYS + 1})),
        None,
    ),
    Case("accepts-deny-to-everyone", _grant("*", effect="Deny"), None),
]


def _iam_doc(action: Any = None, resource: Any = None, **extra: Any) -> Callable[[Resource], None]:
    def mutate(r: Resource) -> None:
        doc = json.loads(r["inputs"]["policy"])
        statement: dict[str, Any] = {"Effect": "Allow", **extra}
        if action is not None:
            statement["Action"] = action
        if resource is not None:
            statement["Resource"] = resource
        doc["Statement"].append(statement)
        r["inputs"]["policy"] = json.dumps(doc)

    return mutate


ARN = "arn:aws:s3:::websys-production-backups/postgres/*"
IAM_CASES = [
    Case("action-star", _iam_doc("*", ARN), "iam-least-privilege"),
    Case("action-s3-star", _iam_doc("s3:*", ARN), "iam-least-privilege"),
    Case("action-prefix-wildcard", _iam_doc(["s3:Put*"], ARN), "iam-least-privilege"),
    Case("resource-star", _iam_doc("s3:GetObject", "*"), "iam-least-privilege"),
    Case("resource-every-bucket", _iam_doc("s3:GetObject", "arn:aws:s3:::*/*"), "iam-least-privilege"),
    Case("delete-object", _iam_doc("s3:DeleteObject", ARN), "iam-least-privilege"),
    Case("delete-versions", _iam_doc(["s3:GetObject", "s3:DeleteObjectVersion"], ARN), "iam-least-privilege"),
    Case("bypass-retention", _iam_doc("s3:BypassGovernanceRetention", ARN), "iam-least-privilege"),
    Case(
        "schedule-key-deletion",
        _iam_doc("kms:ScheduleKeyDeletion", "arn:aws:kms:ap-northeast-1:1:key/k"),
        "iam-least-privilege",
    ),
    Case("not-action", _iam_doc(None, ARN, NotAction="s3:DeleteObject"), "iam-least-privilege"),
    Case("iam-escalation", _iam_doc("iam:AttachUserPolicy", "arn:aws:iam::123456789012:user/x"), "iam-least-privilege"),
    Case("policy-not-json", lambda r: r["inputs"].update(policy="{"), "iam-least-privilege"),
    Case(
        "statement-a-string", lambda r: r["inputs"].update(policy=json.dumps({"Statement": "x"})), "iam-least-privilege"
    ),
    Case("accepts-read-of-own-prefix", _iam_doc("s3:GetObjectVersion", ARN), None),
]

KMS_CASES = [
    Case("unprotected", lambda r: r["options"].update(protect=False), "kms-key-protected"),
    Case("no-rotation", lambda r: r["inputs"].update(enableKeyRotation=False), "kms-key-protected"),
    Case("rotation-removed", lambda r: r["inputs"].pop("enableKeyRotation"), "kms-key-protected"),
    Case("short-window", lambda r: r["inputs"].update(deletionWindowInDays=7), "kms-key-protected"),
    Case("window-removed", lambda r: r["inputs"].pop("deletionWindowInDays"), "kms-key-protected"),
    Case("window-text", lambda r: r["inputs"].update(deletionWindowInDays="thirty"), "kms-key-protected"),
    Case("disabled", lambda r: r["inputs"].update(isEnabled=False), "kms-key-protected"),
]

COUNTS: dict[str, tuple[int, int]] = {}


@pytest.fixture(scope="module")
def production(stack_plans: dict[str, Plan]) -> PlanDoc:
    return stack_plans["production"].to_json()


def _config(plan: PlanDoc, bucket_urns: list[str]) -> dict[str, Any]:
    return {
        "all": "mandatory",
        "s3-retention": {
            "buckets": {
                urn: {"data/": {"expirationDays": RETENTION_DAYS, "noncurrentDays": NONCURRENT_DAYS}}
                for urn in bucket_urns
            }
        },
        "s3-object-lock": {"buckets": dict.fromkeys(bucket_urns, "the test's locked bucket")},
    }


def test_storage_cases(production: PlanDoc, tmp_path: Path) -> None:
    plan = copy.deepcopy(production)
    bucket_urns = {}
    for case in [Case("control", lambda g: None, None), *STORAGE_CASES]:
        group = _bucket_group(plan, case.id)
        group[BUCKET][0]["inputs"]["objectLockEnabled"] = True
        case.mutate(group)
        plan["resources"] += [r for rs in group.values() for r in rs]
        bucket_urns[case.id] = group[BUCKET][0]["urn"]
    _, violations = run_policy(plan, tmp_path, _config(plan, list(bucket_urns.values())))
    # A bucket rule reports on the bucket or on its side resource: both name the case.
    reported: dict[str, set[str]] = {}
    for urn, rules in by_urn(violations).items():
        for case_id in bucket_urns:
            if f"::case-{case_id}-bucket" in urn:
                reported.setdefault(case_id, set()).update(rules)
    assert reported.get("control", set()) == set()
    caught, tried, misses = judge(STORAGE_CASES, reported, lambda case: case.id)
    COUNTS["storage"] = (caught, tried)
    print(f"\nstorage: caught {caught}/{tried}")
    assert misses == []


def test_a_side_resource_of_another_bucket_does_not_count(production: PlanDoc, tmp_path: Path) -> None:
    """The log archive's access block, made to depend on the backup bucket too, is still not its."""
    plan = copy.deepcopy(production)
    backups = find(plan, "backups-bucket")
    plan["resources"] = [r for r in plan["resources"] if r["name"] != "backups-bucket-public-access-block"]
    find(plan, "log-archive-bucket-public-access-block")["dependencies"].append(backups["urn"])
    _, violations = run_policy(plan, tmp_path, {"all": "mandatory"})
    assert ("s3-public-access-block", backups["urn"]) in {(v["policy"], v["urn"]) for v in violations}


@pytest.mark.parametrize(("cases", "target"), [(IAM_CASES, "backups-job-policy"), (KMS_CASES, "backups-key")])
def test_iam_and_kms_cases(production: PlanDoc, tmp_path: Path, cases: list[Case], target: str) -> None:
    plan = copy.deepcopy(production)
    base = find(plan, target)
    control = copy_as(base, "case-control")
    plan["resources"].append(control)
    for case in cases:
        twin = copy_as(base, f"case-{case.id}")
        case.mutate(twin)
        plan["resources"].append(twin)
    attachment = copy_as(base, "case-admin-attachment")
    attachment.update(type="aws:iam/userPolicyAttachment:UserPolicyAttachment")
    attachment["urn"] = attachment["urn"].replace("aws:iam/userPolicy:UserPolicy", attachment["type"])
    attachment["inputs"] = {"user": "u", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    plan["resources"].append(attachment)
    _, violations = run_policy(plan, tmp_path, {"all": "mandatory"})
    reported = by_urn(violations)
    assert reported.get(control["urn"], set()) == set()
    prefix = control["urn"].rsplit("::", 1)[0]
    caught, tried, misses = judge(cases, reported, lambda case: f"{prefix}::case-{case.id}")
    if target == "backups-job-policy":
        tried += 1
        caught += "iam-least-privilege" in reported.get(attachment["urn"], set())
    name = "IAM" if target == "backups-job-policy" else "KMS"
    COUNTS[name] = (caught, tried)
    print(f"\n{name}: caught {caught}/{tried}")
    assert misses == []
    assert caught == tried


def test_a_relabelled_and_renamed_database_is_still_a_data_service(production: PlanDoc, tmp_path: Path) -> None:
    """A PostgreSQL container that says it is a backend (label and name) still runs the postgres image."""
    plan = copy.deepcopy(production)
    postgres = find(plan, "postgres-primary")
    postgres["inputs"]["labels"] = [{"label": "com.websys.service", "value": "backend"}]
    postgres["inputs"]["name"] = "websys-production-api"
    postgres["inputs"]["networksAdvanced"].append({"name": "websys-production-edge"})
    _, violations = run_policy(plan, tmp_path, {"all": "mandatory"})
    assert ("data-services-internal", postgres["urn"]) in {(v["policy"], v["urn"]) for v in violations}


def test_backup_bucket_or_job_removed(production: PlanDoc, tmp_path: Path) -> None:
    plan = copy.deepcopy(production)
    bucket, job = find(plan, "backups-bucket"), find(plan, "backup-job")
    required = {"backups-and-monitoring": {"required": {bucket["urn"]: "backup bucket", job["urn"]: "backup job"}}}
    for removed, what in ((bucket, "backup bucket"), (job, "backup job")):
        changed = copy.deepcopy(plan)
        changed["resources"] = [r for r in changed["resources"] if r["urn"] != removed["urn"]]
        code, violations = run_policy(changed, tmp_path, {"all": "mandatory", **required})
        found = [v for v in violations if v["policy"] == "backups-and-monitoring"]
        assert [what in v["message"] for v in found] == [True], violations
        assert code == 1
