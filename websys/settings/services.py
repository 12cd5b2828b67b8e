"""Settings of the platform's stateful and edge services (extended by the components that run them)."""

from __future__ import annotations

from pydantic import Field

from websys.settings.edge import HeaderValue, ReferrerPolicy
from websys.settings.types import ImageReference, Port, Section


class PostgresSettings(Section):
    """PostgreSQL 15 on the official image: one primary and `replicas` streaming read replicas."""

    image: ImageReference = "postgres:15-alpine"
    replicas: int = Field(default=0, ge=0, le=5)


class RedisSettings(Section):
    image: ImageReference = "redis:7-alpine"


class ProxySettings(Section):
    """nginx at the edge: the only container that publishes host ports (80 and 443).

    TLS certificate and key are the top-level secrets `tlsCertificate` and `tlsPrivateKey`;
    the rest of the edge's behaviour is here.
    """

    image: ImageReference = "nginx:1.28.0-alpine"
    # stub_status for the exporter: on the edge network only, never published on the host.
    status_port: Port = 8081
    client_max_body_size_mb: int = Field(default=10, ge=1, le=1024)
    connect_timeout_seconds: int = Field(default=2, ge=1, le=60)
    read_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    send_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    keepalive_timeout_seconds: int = Field(default=65, ge=0, le=3600)
    # A replica that fails this often within failTimeoutSeconds rests for failTimeoutSeconds.
    max_fails: int = Field(default=2, ge=1, le=100)
    fail_timeout_seconds: int = Field(default=10, ge=1, le=3600)
    next_upstream_tries: int = Field(default=3, ge=1, le=20)
    hsts_max_age_seconds: int = Field(default=63_072_000, ge=31_536_000, le=63_072_000)
    # None: derived from the domains (the API's origin is added to connect-src when it has its own).
    content_security_policy: HeaderValue | None = None
    referrer_policy: ReferrerPolicy = "strict-origin-when-cross-origin"
    permissions_policy: HeaderValue = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
    memory_mb: int = Field(default=256, ge=32, le=65_536)
    cpus: float = Field(default=1.0, gt=0, le=64)
