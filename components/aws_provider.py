"""The stack's AWS provider: explicit (never the ambient default), its region from settings."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_aws.provider import Provider

from websys.settings.backup import BackupSettings

# moto accepts any credentials; these are its documented test values, not secrets.
EMULATOR_ACCESS_KEY = "testing"
EMULATOR_SECRET_KEY = "testing"  # noqa: S105


def aws_provider(environment: str, settings: BackupSettings, depends_on: Sequence[pulumi.Resource] = ()) -> Provider:
    """On AWS: credentials from the environment (a profile, SSO, OIDC in CI). With an S3-compatible
    endpoint (development): every API the program uses goes there, with path-style addressing."""
    endpoint = settings.provider_endpoint
    if endpoint is None:
        return Provider(
            "aws",
            region=settings.region,
            default_tags={"tags": {"websys:environment": environment}},
        )
    return Provider(
        "aws",
        region=settings.region,
        endpoints=[{"s3": endpoint, "kms": endpoint, "iam": endpoint, "sts": endpoint}],
        access_key=EMULATOR_ACCESS_KEY if settings.emulator is not None else None,
        secret_key=pulumi.Output.secret(EMULATOR_SECRET_KEY) if settings.emulator is not None else None,
        s3_use_path_style=True,
        skip_credentials_validation=True,
        skip_metadata_api_check=True,
        skip_region_validation=True,
        skip_requesting_account_id=True,
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )
