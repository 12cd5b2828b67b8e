"""Settings of backups and the compliance log archive: S3 buckets, the backup job and its schedule."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from websys.backup.schedule import CronError, parse_cron
from websys.settings.text import single_line_problem
from websys.settings.types import ImageReference, Port, Section

# Applied with fullmatch (a `$` would let a trailing newline through).
_BUCKET_RE = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_RE = re.compile(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*")
_REGION_RE = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]")
_ENDPOINT_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")


def _bucket_name(value: str) -> str:
    if not _BUCKET_RE.fullmatch(value) or re.fullmatch(r"[0-9.]+", value):
        raise ValueError(f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
    return value


def _key_prefix(value: str) -> str:
    if not _PREFIX_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a key prefix like 'postgres' (lowercase segments joined by '/')")
    return value


def _region(value: str) -> str:
    if not _REGION_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an AWS region such as 'ap-northeast-1'")
    return value


def _endpoint(value: str) -> str:
    if not _ENDPOINT_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an endpoint URL such as 'http://127.0.0.1:5000'")
    return value.rstrip("/")


def _cron(value: str) -> str:
    # The cron parser splits on whitespace, so a trailing newline would pass it.
    problem = single_line_problem(value)
    if problem is not None:
        raise ValueError(problem)
    try:
        parse_cron(value)
    except CronError as error:
        raise ValueError(str(error)) from None
    return value


BucketName = Annotated[str, AfterValidator(_bucket_name)]
KeyPrefix = Annotated[str, AfterValidator(_key_prefix)]
Region = Annotated[str, AfterValidator(_region)]
Endpoint = Annotated[str, AfterValidator(_endpoint)]
CronExpression = Annotated[str, AfterValidator(_cron)]


class LogRetention(Section):
    """The guide's compliance retention, in days, per log prefix of the archive."""

    access_days: int = Field(default=365, ge=1, le=36_500)
    error_days: int = Field(default=730, ge=1, le=36_500)
    audit_days: int = Field(default=1825, ge=1, le=36_500)


class S3EmulatorSettings(Section):
    """Development only: moto's S3-compatible server in a container, published on the host's loopback."""

    image: ImageReference = "motoserver/moto:5.2.5"
    host_port: Port = 5000


class BackupSettings(Section):
    bucket: BucketName | None = None  # default: websys-<environment>-backups
    log_bucket: BucketName | None = None  # default: websys-<environment>-log-archive
    prefix: KeyPrefix = "postgres"
    region: Region = "ap-northeast-1"
    retention_days: int = Field(default=30, ge=1, le=3650)
    noncurrent_retention_days: int = Field(default=7, ge=1, le=3650)
    abort_incomplete_upload_days: int = Field(default=2, ge=1, le=365)
    encryption: Literal["kms", "AES256"] = "kms"
    kms_deletion_window_days: int = Field(default=30, ge=7, le=30)
    schedule: CronExpression = "0 3 * * *"  # daily, 03:00 UTC
    verify_schedule: CronExpression = "30 4 * * 0"  # the restore drill: Sundays, 04:30 UTC
    image: ImageReference = "registry.websys.company.com/websys/backup:1.0.0"
    metrics_port: Port = 9188
    part_size_mb: int = Field(default=16, ge=5, le=512)
    memory_mb: int = Field(default=256, ge=128, le=65_536)
    log_retention: LogRetention = LogRetention()
    object_lock: bool = False  # COMPLIANCE-mode Object Lock on the audit log prefix
    endpoint: Endpoint | None = None  # an S3-compatible endpoint instead of AWS (development)
    emulator: S3EmulatorSettings | None = None  # run moto's server and use it (development)

    @model_validator(mode="after")
    def _one_endpoint(self) -> BackupSettings:
        if self.emulator is not None and self.endpoint is not None:
            raise ValueError("set either endpoint or emulator, not both (the emulator is the endpoint)")
        return self

    def bucket_name(self, environment: str) -> str:
        return self.bucket or f"websys-{environment}-backups"

    def log_bucket_name(self, environment: str) -> str:
        return self.log_bucket or f"websys-{environment}-log-archive"

    @property
    def provider_endpoint(self) -> str | None:
        """Where Pulumi's AWS provider sends API calls: the emulator's published port, or `endpoint`."""
        if self.emulator is not None:
            return f"http://127.0.0.1:{self.emulator.host_port}"
        return self.endpoint
