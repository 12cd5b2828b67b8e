"""Settings of the platform's stateful and edge services (extended by the components that run them)."""

from __future__ import annotations

from pydantic import Field

from websys.settings.types import ImageReference, Section


class PostgresSettings(Section):
    """PostgreSQL 15 on the official image: one primary and `replicas` streaming read replicas."""

    image: ImageReference = "postgres:15-alpine"
    replicas: int = Field(default=0, ge=0, le=5)


class RedisSettings(Section):
    image: ImageReference = "redis:7-alpine"


class ProxySettings(Section):
    """nginx at the edge: the only container that publishes host ports."""

    image: ImageReference = "nginx:1.27-alpine"
