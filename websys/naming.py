"""Names that several components agree on: container names and the hostnames services reach."""

from __future__ import annotations

# Network aliases on the data network; the backend's connection URLs use these.
POSTGRES_PRIMARY_HOST = "postgres-primary"
REDIS_HOST = "redis"
REDIS_PORT = 6379


def prefix(environment: str) -> str:
    """Every Docker object of a stack starts with this, so stacks can share a host safely."""
    return f"websys-{environment}"


def network_name(environment: str, purpose: str) -> str:
    return f"{prefix(environment)}-{purpose}"


def replica_name(environment: str, service: str, color: str, index: int) -> str:
    """Container name of one replica; also its hostname on the edge network."""
    return f"{prefix(environment)}-{service}-{color}-{index}"


def postgres_primary(environment: str) -> str:
    return f"{prefix(environment)}-postgres-primary"


def postgres_replica(environment: str, index: int) -> str:
    return f"{prefix(environment)}-postgres-replica-{index}"


def redis(environment: str) -> str:
    return f"{prefix(environment)}-redis"


def nginx(environment: str) -> str:
    return f"{prefix(environment)}-nginx"


# Backups: the scheduled backup job, and (development only) the S3 emulator it and Pulumi talk to.
S3_EMULATOR_HOST = "s3"
S3_EMULATOR_PORT = 5000
BACKUP_METRICS_HOST = "backup"


def backup_job(environment: str) -> str:
    return f"{prefix(environment)}-backup"


def s3_emulator(environment: str) -> str:
    return f"{prefix(environment)}-s3"


# --- platform swarm: a stateless tier is one service; its name is its DNS name on the overlays ---
def app_service(environment: str, service: str) -> str:
    return f"{prefix(environment)}-{service}"
