"""Settings of the platform's stateful and edge services (extended by the components that run them)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from websys.settings.edge import HeaderValue, ReferrerPolicy
from websys.settings.types import ImageReference, Port, Section, SqlName


class PostgresSettings(Section):
    """PostgreSQL 15 on the official image: one primary and `replicas` streaming read replicas."""

    image: ImageReference = "postgres:15-alpine"
    replicas: int = Field(default=0, ge=0, le=5)

    # --- data tier: PostgreSQL server, replication and container settings ---
    # postgres:15-alpine runs as `postgres`, uid/gid 70 (the Debian-based image uses 999).
    user: str = Field(default="70:70", pattern=r"^[0-9]+:[0-9]+$")
    replication_user: SqlName = "replicator"
    memory_mb: int = Field(default=1024, ge=128, le=262_144)
    cpus: float = Field(default=1.0, gt=0, le=64)
    max_connections: int = Field(default=100, ge=10, le=10_000)
    shared_buffers_mb: int = Field(default=256, ge=16, le=131_072)
    effective_cache_size_mb: int = Field(default=768, ge=16, le=1_048_576)
    work_mem_mb: int = Field(default=4, ge=1, le=16_384)
    maintenance_work_mem_mb: int = Field(default=64, ge=1, le=65_536)
    max_wal_size_mb: int = Field(default=1024, ge=32, le=1_048_576)
    max_wal_senders: int = Field(default=10, ge=2, le=100)
    max_replication_slots: int = Field(default=10, ge=1, le=100)
    # WAL a slot may hold back; beyond it the slot is invalidated rather than filling the disk.
    max_slot_wal_keep_size_mb: int = Field(default=2048, ge=64, le=1_048_576)
    wal_keep_size_mb: int = Field(default=256, ge=0, le=1_048_576)
    statement_timeout_seconds: int = Field(default=0, ge=0, le=86_400)
    shm_size_mb: int = Field(default=256, ge=64, le=65_536)
    # How long `pulumi up` waits for a new replica to clone the primary and become healthy.
    replica_start_timeout_seconds: int = Field(default=900, ge=60, le=86_400)
    log_min_duration_statement_ms: int = Field(default=1000, ge=-1, le=3_600_000)
    # After a failover: the replica (1-based) that was promoted and now serves as the primary.
    # 0: the original primary serves. See the failover runbook in docs/data-tier.md.
    promoted_replica: int = Field(default=0, ge=0, le=5)
    # Volumes of the primary and replicas: `protect` and `retainOnDelete` when true.
    protect_volumes: bool = True

    @model_validator(mode="after")
    def _fits(self) -> PostgresSettings:
        if self.shared_buffers_mb > self.memory_mb // 2:
            raise ValueError(
                f"sharedBuffersMb ({self.shared_buffers_mb}) must be at most half of memoryMb ({self.memory_mb})"
            )
        # pg_basebackup -X stream holds two WAL senders while a replica is being cloned.
        if self.max_wal_senders < self.replicas + 2:
            raise ValueError(f"maxWalSenders ({self.max_wal_senders}) must be at least replicas + 2")
        if self.max_replication_slots < self.replicas:
            raise ValueError(f"maxReplicationSlots ({self.max_replication_slots}) must be at least replicas")
        if self.promoted_replica > self.replicas:
            raise ValueError(f"promotedReplica ({self.promoted_replica}) must name one of the {self.replicas} replicas")
        if self.replication_user == "postgres":
            raise ValueError("replicationUser must not be the superuser 'postgres'")
        return self


EvictionPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]


class RedisSettings(Section):
    image: ImageReference = "redis:7-alpine"

    # --- data tier: Redis server and container settings ---
    # redis:7-alpine runs as `redis`, uid 999, gid 1000.
    user: str = Field(default="999:1000", pattern=r"^[0-9]+:[0-9]+$")
    memory_mb: int = Field(default=512, ge=64, le=262_144)
    cpus: float = Field(default=0.5, gt=0, le=64)
    maxmemory_mb: int = Field(default=256, ge=16, le=196_608)
    # The backend caches with TTLs (SETEX); only keys that have one are evicted by default.
    maxmemory_policy: EvictionPolicy = "volatile-lru"
    appendfsync: Literal["always", "everysec", "no"] = "everysec"
    protect_volumes: bool = True

    @model_validator(mode="after")
    def _fits(self) -> RedisSettings:
        # An AOF rewrite forks the server; copy-on-write needs headroom inside the container limit.
        if self.maxmemory_mb * 4 > self.memory_mb * 3:
            raise ValueError(f"maxmemoryMb ({self.maxmemory_mb}) must be at most 75% of memoryMb ({self.memory_mb})")
        return self


# Docker's default address pools, from which it picks the subnet of every network created without
# one (the bridge, the edge and monitoring networks): a data subnet inside them collides with one of
# those sooner or later. moby libnetwork/ipamutils/utils.go (20.10: vendor/github.com/docker/
# libnetwork/ipamutils/utils.go): local scope 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16 in
# /20s; global scope (Swarm overlays, the ingress network) 10.0.0.0/8 in /24s.
DOCKER_LOCAL_POOLS = (
    *(ipaddress.IPv4Network(f"172.{second}.0.0/16") for second in range(17, 32)),
    ipaddress.IPv4Network("192.168.0.0/16"),
)
DOCKER_GLOBAL_POOLS = (ipaddress.IPv4Network("10.0.0.0/8"),)


def _private_subnet(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 network in CIDR form ({error})") from None
    if not (network.is_private or network.is_loopback) or not 16 <= network.prefixlen <= 29:
        raise ValueError(f"{value!r} must be a private (or loopback) IPv4 network from /16 to /29")
    for pool in DOCKER_LOCAL_POOLS:
        if network.overlaps(pool):
            raise ValueError(
                f"{value!r} overlaps Docker's default address pool {pool}; choose one outside "
                "172.17.0.0-172.31.255.255 and 192.168.0.0/16, e.g. in 172.16.0.0/16"
            )
    return value


PrivateSubnet = Annotated[str, AfterValidator(_private_subnet)]


class DataNetworkSettings(Section):
    """The internal data network's address range: pg_hba.conf admits clients from it alone."""

    subnet: PrivateSubnet = "172.16.0.0/24"


# What nginx listens on for the public (HTTP, redirected, and HTTPS), on a host or in the swarm.
PUBLIC_EDGE_PORTS = (80, 443)


class ProxySettings(Section):
    """nginx at the edge: the only container that publishes host ports (80 and 443).

    TLS certificate and key are the top-level secrets `tlsCertificate` and `tlsPrivateKey`;
    the rest of the edge's behaviour is here.
    """

    image: ImageReference = "nginx:1.28.0-alpine"
    # stub_status for the exporter: on the edge network only, never published on the host, and
    # never one of the ports the edge serves the public on.
    status_port: Port = 8081

    @model_validator(mode="after")
    def _status_port_private(self) -> ProxySettings:
        if self.status_port in PUBLIC_EDGE_PORTS:
            raise ValueError(
                f"statusPort {self.status_port} is a port the edge serves the public on "
                f"({', '.join(map(str, PUBLIC_EDGE_PORTS))}); stub_status must stay internal"
            )
        return self

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
