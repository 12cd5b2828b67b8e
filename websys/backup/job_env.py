"""What the backup job container is told (pure; the component wires it): its command and variables."""

from __future__ import annotations

from urllib.parse import quote

from websys import naming
from websys.backup.policies import sse_algorithm
from websys.render.postgres import backup_role
from websys.settings import Settings
from websys.settings.backup import BackupSettings

# The image's entrypoint is `websys`; everything else comes from the environment.
COMMAND: tuple[str, ...] = ("backup",)


def database_url(settings: Settings, password: str) -> str:
    """The job connects as its own role (`backup_role`), never as the application."""
    db = settings.database
    return (
        f"postgresql://{quote(backup_role(settings), safe='')}:{quote(password, safe='')}"
        f"@{naming.POSTGRES_PRIMARY_HOST}:{db.port}/{db.name}"
    )


def job_environment(
    settings: BackupSettings, bucket: str, kms_key_arn: str | None, endpoint_url: str | None, access_key_id: str
) -> dict[str, str]:
    """The job's non-secret variables; WEBSYS_DATABASE_URL, WEBSYS_BACKUP_MANIFEST_KEY and
    AWS_SECRET_ACCESS_KEY come as secrets."""
    env = {
        "WEBSYS_BACKUP_BUCKET": bucket,
        "WEBSYS_BACKUP_PREFIX": settings.prefix,
        "WEBSYS_BACKUP_SCHEDULE": settings.schedule,
        "WEBSYS_VERIFY_SCHEDULE": settings.verify_schedule,
        "WEBSYS_METRICS_PORT": str(settings.metrics_port),
        "WEBSYS_BACKUP_SSE": sse_algorithm(settings.encryption),
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": access_key_id,
    }
    if kms_key_arn is not None and settings.encryption == "kms":
        env["WEBSYS_BACKUP_KMS_KEY_ID"] = kms_key_arn
    if endpoint_url is not None:
        env["WEBSYS_S3_ENDPOINT_URL"] = endpoint_url
    return env


def metrics_healthcheck(port: int) -> list[str]:
    """The job is healthy while its metrics endpoint answers (Python's own urllib: no curl needed)."""
    script = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/metrics', timeout=5)"
    return ["CMD", "python", "-c", script]
