"""Settings of the Docker Swarm platform (`platform: swarm`): rolling updates and placement."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from websys.settings.types import Section

Platform = Literal["host", "swarm"]
# Only production may run on a cluster; development and staging stay on one Docker host.
SWARM_ENVIRONMENTS = ("production",)


class SwarmSettings(Section):
    """How services roll and where their tasks run; used when `platform: swarm`.

    A rolling update starts a new task (`start-first`), waits for it to be healthy, watches it for
    `monitorSeconds`, then moves on `updateParallelism` tasks at a time every `updateDelaySeconds`;
    a task that fails in that window rolls the whole service back to its previous spec."""

    update_parallelism: int = Field(default=1, ge=1, le=100)
    update_delay_seconds: int = Field(default=10, ge=0, le=3600)
    monitor_seconds: int = Field(default=30, ge=5, le=3600)
    # Tasks that may fail during an update before it counts as failed (0: none may).
    max_failure_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    # Replicas of a stateless service are spread over the values of this node label (zones, racks).
    spread_label: str = Field(default="websys.zone", pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
    # nginx tasks behind the ingress routing mesh (which publishes 80 and 443 on every node).
    proxy_replicas: int = Field(default=2, ge=1, le=50)
    # Reservations (what the scheduler guarantees) as a percentage of each service's limits.
    reservation_percent: int = Field(default=50, ge=1, le=100)
    # How long a task may take to stop (SIGTERM, then SIGKILL) before it is killed.
    stop_grace_seconds: int = Field(default=30, ge=1, le=600)


def swarm_problems(environment: str, platform: Platform, tls_configured: bool) -> list[tuple[str, str]]:
    """Rules that span several keys, as (key, reason). Stacks are named after their environment."""
    stack = environment
    if platform != "swarm":
        return []
    if environment not in SWARM_ENVIRONMENTS:
        return [("platform", f"swarm is for production only; {environment} runs on one Docker host (platform: host)")]
    if not tls_configured:
        return [
            (
                "tlsCertificate",
                "platform swarm needs the edge's certificate and key as Swarm secrets: run "
                f"`pulumi config set --secret websys:tlsCertificate --stack {stack} < fullchain.pem` and "
                f"`pulumi config set --secret websys:tlsPrivateKey --stack {stack} < privkey.pem`",
            )
        ]
    return []
