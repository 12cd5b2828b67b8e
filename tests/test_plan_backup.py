"""Backup storage, the compliance log archive and the backup job, as the engine would receive them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.planning import CONTAINER, NETWORK, plan_for, run_websys, stack_config, stack_file
from websys.plan import SECRET, Plan, PlannedResource
from websys.plan.mocks import _generated_text
from websys.settings import SettingsError, parse_settings

STACKS = ["development", "staging", "production"]
AWS_PROVIDER_SUFFIX = "::pulumi:providers:aws::aws"


def resource(plan: Plan, name: str) -> PlannedResource:
    """The custom resource called `name` (a SecureBucket component and its bucket share a name)."""
    (found,) = [r for r in plan.resources if r.name == name and not r.type.startswith("websys:")]
    return found


def statements(plan: Plan, name: str) -> dict[str, dict[str, Any]]:
    policy = json.loads(resource(plan, name).inputs["policy"])
    assert policy["Version"] == "2012-10-17"
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def lifecycle(plan: Plan, name: str) -> dict[str, dict[str, Any]]:
    return {rule["id"]: rule for rule in resource(plan, name).inputs["rules"]}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("bucket", ["backups-bucket", "log-archive-bucket"])
def test_every_bucket_is_private_versioned_encrypted_and_tls_only(
    stack_plans: dict[str, Plan], stack: str, bucket: str
) -> None:
    plan = stack_plans[stack]
    assert resource(plan, "backups-key").inputs["enableKeyRotation"] is True
    assert resource(plan, f"{bucket}-versioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = resource(plan, f"{bucket}-encryption").inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert default["kmsMasterKeyId"].startswith("arn:aws:kms:ap-northeast-1:")
    assert rule["bucketKeyEnabled"] is True
    block = resource(plan, f"{bucket}-public-access-block").inputs
    assert all(
        block[flag] is True
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert resource(plan, f"{bucket}-ownership").inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}

    name = resource(plan, bucket).inputs["bucket"]
    policy = statements(plan, f"{bucket}-policy")
    tls = policy["DenyInsecureTransport"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    unencrypted = policy["DenyUnencryptedUploads"]
    assert unencrypted["Condition"] == {"Null": {"s3:x-amz-server-side-encryption": "true"}}
    assert policy["DenyOtherEncryption"]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert "abort-incomplete-uploads" in lifecycle(plan, f"{bucket}-lifecycle")


@pytest.mark.parametrize("stack", STACKS)
def test_backups_expire_by_lifecycle_after_the_guides_30_days(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    assert resource(plan, "backups-bucket").inputs["bucket"] == f"websys-{stack}-backups"
    rules = lifecycle(plan, "backups-bucket-lifecycle")
    expire = rules["expire-backups"]
    assert expire["status"] == "Enabled"
    assert expire["filter"] == {"prefix": "postgres/"}
    assert expire["expiration"] == {"days": 30}
    assert expire["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 2}
    lifecycle_resource = resource(plan, "backups-bucket-lifecycle")
    assert resource(plan, "backups-bucket-versioning").urn in lifecycle_resource.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_log_archive_keeps_each_prefix_for_the_guides_period(stack_plans: dict[str, Plan], stack: str) -> None:
    rules = lifecycle(stack_plans[stack], "log-archive-bucket-lifecycle")
    for prefix, days in (("access", 365), ("error", 730), ("audit", 1825)):
        rule = rules[f"expire-{prefix}-logs"]
        assert rule["filter"] == {"prefix": f"{prefix}/"}
        assert rule["expiration"] == {"days": days}
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": days}


def test_production_audit_logs_are_under_compliance_object_lock(stack_plans: dict[str, Plan]) -> None:
    plan = stack_plans["production"]
    assert resource(plan, "log-archive-bucket").inputs["objectLockEnabled"] is True
    policy = statements(plan, "log-archive-bucket-policy")
    audit = "arn:aws:s3:::websys-production-log-archive/audit/*"
    mode = policy["DenyAuditWithoutComplianceLock"]
    assert (mode["Effect"], mode["Resource"]) == ("Deny", audit)
    assert mode["Condition"] == {"StringNotEqualsIfExists": {"s3:object-lock-mode": "COMPLIANCE"}}
    assert policy["DenyAuditWithoutLockMode"]["Condition"] == {"Null": {"s3:object-lock-mode": "true"}}
    retention = policy["DenyAuditShortRetention"]
    assert retention["Resource"] == audit
    assert retention["Condition"] == {"NumericLessThan": {"s3:object-lock-remaining-retention-days": "1825"}}
    for stack in ("development", "staging"):
        other = stack_plans[stack]
        assert "objectLockEnabled" not in resource(other, "log-archive-bucket").inputs
        assert not [sid for sid in statements(other, "log-archive-bucket-policy") if sid.startswith("DenyAudit")]


@pytest.mark.parametrize("stack", STACKS)
def test_buckets_and_key_are_protected_outside_development(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    for name in ("backups-bucket", "log-archive-bucket", "backups-key"):
        options = resource(plan, name).options
        assert options.protect is (stack != "development"), name
        assert options.retain_on_delete is (stack != "development"), name
        assert resource(plan, name).inputs.get("forceDestroy", False) is False


@pytest.mark.parametrize("stack", STACKS)
def test_aws_resources_use_the_stacks_explicit_provider_and_no_deprecated_type(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    aws = [r for r in plan.resources if r.type.startswith("aws:")]
    assert len(aws) == 18  # 7 per bucket, the KMS key, the job user, its policy and key
    assert all(r.provider.split("::", 1)[0].endswith(stack) and AWS_PROVIDER_SUFFIX in r.provider for r in aws)
    assert not [r.type for r in aws if r.type.split(":")[-1].endswith("V2")]
    (provider,) = plan.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "ap-northeast-1"
    if stack == "development":
        endpoints = json.loads(provider.inputs["endpoints"])
        assert endpoints == [dict.fromkeys(("iam", "kms", "s3", "sts"), "http://127.0.0.1:5000")]
        assert provider.inputs["skipCredentialsValidation"] == "true"
        assert provider.inputs["secretKey"] == SECRET
        emulator = resource(plan, "s3-emulator")
        assert emulator.urn in provider.dependencies  # buckets are created once moto is up
        assert emulator.inputs["ports"] == [{"external": 5000, "internal": 5000, "ip": "127.0.0.1"}]
        assert emulator.inputs["name"] == "websys-development-s3"
    else:
        assert "endpoints" not in provider.inputs
        assert not [r for r in plan.of_type(CONTAINER) if r.name == "s3-emulator"]


@pytest.mark.parametrize("stack", STACKS)
def test_backup_job_identity_is_limited_to_its_prefix_and_cannot_delete(
    stack_plans: dict[str, Plan], stack: str
) -> None:
    plan = stack_plans[stack]
    policy = statements(plan, "backups-job-policy")
    bucket = f"arn:aws:s3:::websys-{stack}-backups"
    assert policy["ListOwnPrefix"]["Resource"] == bucket
    assert policy["ListOwnPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["postgres/", "postgres/*"]}}
    assert policy["ReadWriteOwnPrefix"]["Resource"] == f"{bucket}/postgres/*"
    actions: set[str] = set()
    for statement in policy.values():
        action = statement["Action"]
        actions.update(action if isinstance(action, list) else [action])
    assert not [action for action in actions if "Delete" in action or action.endswith("*")]
    assert policy["UseBackupKey"]["Resource"].startswith("arn:aws:kms:")
    assert resource(plan, "backups-job-key").options.additional_secret_outputs == ["secret", "sesSmtpPasswordV4"]


@pytest.mark.parametrize("stack", STACKS)
def test_backup_job_container(stack_plans: dict[str, Plan], stack: str) -> None:
    plan = stack_plans[stack]
    job = resource(plan, "backup-job")
    assert job.type == CONTAINER
    inputs = job.inputs
    assert inputs["name"] == f"websys-{stack}-backup"
    envs = inputs["envs"]
    plain = dict(item.split("=", 1) for item in envs if item != SECRET)
    assert envs.count(SECRET) == 3  # WEBSYS_DATABASE_URL, WEBSYS_BACKUP_MANIFEST_KEY, AWS_SECRET_ACCESS_KEY
    assert plain["WEBSYS_BACKUP_BUCKET"] == f"websys-{stack}-backups"
    assert plain["WEBSYS_BACKUP_SCHEDULE"] == "0 3 * * *"
    assert plain["WEBSYS_VERIFY_SCHEDULE"] == "30 4 * * 0"
    assert plain["WEBSYS_METRICS_PORT"] == "9188"
    assert plain["WEBSYS_BACKUP_SSE"] == "aws:kms"
    assert plain["WEBSYS_BACKUP_KMS_KEY_ID"].startswith("arn:aws:kms:")
    assert plain.get("WEBSYS_S3_ENDPOINT_URL") == ("http://s3:5000" if stack == "development" else None)
    assert inputs["command"][0] == "backup"
    assert "9188/metrics" in inputs["healthcheck"]["tests"][-1]
    assert (inputs["readOnly"], inputs["user"], inputs["capabilities"]) == (True, "1000:1000", {"drops": ["ALL"]})
    networks = {network["name"]: network for network in inputs["networksAdvanced"]}
    assert set(networks) == {f"websys-{stack}-data", f"websys-{stack}-backup-egress"}
    assert "backup" in networks[f"websys-{stack}-data"]["aliases"]  # Prometheus scrapes backup:9188
    egress = next(r for r in plan.of_type(NETWORK) if r.inputs["name"] == f"websys-{stack}-backup-egress")
    assert not egress.inputs.get("internal", False)
    others = [r for r in plan.of_type(CONTAINER) if r.name != "backup-job"]
    assert not [
        r.name for r in others if f"websys-{stack}-backup-egress" in json.dumps(r.inputs.get("networksAdvanced"))
    ]


def test_the_job_credentials_never_appear_in_a_plan(stack_plans: dict[str, Plan]) -> None:
    mock_secret = _generated_text("secret:backups-job-key", 40)
    for plan in stack_plans.values():
        text = plan.dumps()
        assert mock_secret not in text
        assert "AWS_SECRET_ACCESS_KEY=" not in text
        assert "WEBSYS_DATABASE_URL=" not in text


def test_aes256_encryption_needs_no_key() -> None:
    plan = plan_for("staging", sets=["backup.encryption=AES256"])
    assert plan.of_type("aws:kms/key:Key") == []
    (rule,) = resource(plan, "backups-bucket-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    policy = statements(plan, "backups-bucket-policy")
    assert policy["DenyOtherEncryption"]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}
    }
    assert "UseBackupKey" not in statements(plan, "backups-job-policy")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("backup.schedule=61 * * * *", "websys:backup.schedule: minute: '61' is outside 0-59"),
        ("backup.schedule=daily", "websys:backup.schedule: 'daily' is not a cron expression"),
        ("backup.retentionDays=0", "websys:backup.retentionDays: input should be greater than or equal to 1"),
        ("backup.encryption=none", "websys:backup.encryption: input should be 'kms' or 'AES256'"),
        ("backup.bucket=Bad_Bucket", "websys:backup.bucket: 'Bad_Bucket' is not an S3 bucket name"),
        ("backup.endpoint=http://localhost:9000", "set either endpoint or emulator, not both"),
        ("backup.retentionDay=3", "websys:backup.retentionDay: unknown key; did you mean 'retentionDays'?"),
    ],
)
def test_bad_backup_settings_are_one_line(assignment: str, message: str) -> None:
    config = stack_config("development", [assignment])
    with pytest.raises(SettingsError) as raised:
        parse_settings("development", config.engine_form(), sorted(config.secret_keys), source=config.source)
    assert str(raised.value).startswith("Pulumi.development.yaml: ")
    assert message in str(raised.value)


def test_bad_backup_setting_stops_websys_plan_with_one_line() -> None:
    result = run_websys(
        "plan", "production", "--stack-file", str(stack_file("production")), "--set", "backup.logRetention.auditDays=0"
    )
    assert result.returncode == 2
    assert result.stderr == (
        "--set backup.logRetention.auditDays=0: websys:backup.logRetention.auditDays: "
        "input should be greater than or equal to 1 (got 0)\n"
    )
