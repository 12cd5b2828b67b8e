"""Pieces every Swarm service's spec shares: rollout, restart, resources, logging, labels.

These build typed provider arguments from settings; they format no file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_docker as docker

from components.durations import short_duration
from websys.settings.app import LoggingSettings
from websys.settings.swarm import SwarmSettings

MIB = 1024 * 1024
NANO = 1_000_000_000
# A data server gets this long to stop cleanly (a fast shutdown checkpoints) before SIGKILL.
DATA_STOP_GRACE_SECONDS = 60


def seconds(value: int) -> str:
    """A duration as the provider reads it back (`shortDur`): `300` is `5m`, not `300s`."""
    return short_duration(value)


def rolling_update(swarm: SwarmSettings) -> docker.ServiceUpdateConfigArgs:
    """Stateless services: a new task starts (and must be healthy) before an old one stops; a task
    that fails within the monitor window rolls the whole service back to its previous spec."""
    return docker.ServiceUpdateConfigArgs(
        order="start-first",
        parallelism=swarm.update_parallelism,
        delay=seconds(swarm.update_delay_seconds),
        failure_action="rollback",
        monitor=seconds(swarm.monitor_seconds),
        max_failure_ratio=f"{swarm.max_failure_ratio:g}",
    )


def rollback(swarm: SwarmSettings, *, order: str = "start-first") -> docker.ServiceRollbackConfigArgs:
    """How a rollback (automatic, or `docker service rollback`) proceeds; if it fails too, it pauses
    for an operator rather than flapping between two broken specs."""
    return docker.ServiceRollbackConfigArgs(
        order=order,
        parallelism=swarm.update_parallelism,
        delay=seconds(swarm.update_delay_seconds),
        failure_action="pause",
        monitor=seconds(swarm.monitor_seconds),
        max_failure_ratio=f"{swarm.max_failure_ratio:g}",
    )


def stateful_update(swarm: SwarmSettings) -> docker.ServiceUpdateConfigArgs:
    """Data services: one task on one volume, so the old task stops before the new one starts;
    a new task that fails in the monitor window is rolled back."""
    return docker.ServiceUpdateConfigArgs(
        order="stop-first",
        parallelism=1,
        delay=seconds(swarm.update_delay_seconds),
        failure_action="rollback",
        monitor=seconds(swarm.monitor_seconds),
        max_failure_ratio="0",
    )


def restart_policy() -> docker.ServiceTaskSpecRestartPolicyArgs:
    """Restart a task whenever it exits; back off 5 s between attempts."""
    return docker.ServiceTaskSpecRestartPolicyArgs(condition="any", delay="5s", max_attempts=0, window=seconds(120))


def resources(cpus: float, memory_mb: int, reservation_percent: int) -> docker.ServiceTaskSpecResourcesArgs:
    """Limits from the settings; reservations (what the scheduler sets aside on a node) a share of them."""
    share = reservation_percent / 100
    return docker.ServiceTaskSpecResourcesArgs(
        limits=docker.ServiceTaskSpecResourcesLimitsArgs(nano_cpus=round(cpus * NANO), memory_bytes=memory_mb * MIB),
        reservation=docker.ServiceTaskSpecResourcesReservationArgs(
            nano_cpus=round(cpus * share * NANO), memory_bytes=math.ceil(memory_mb * share) * MIB
        ),
    )


def log_driver(logging: LoggingSettings) -> docker.ServiceTaskSpecLogDriverArgs:
    return docker.ServiceTaskSpecLogDriverArgs(
        name="json-file", options={"max-size": logging.max_size, "max-file": str(logging.max_files)}
    )


def spread(swarm: SwarmSettings) -> list[str]:
    """Placement preference: replicas spread evenly over the values of the node label.

    The provider passes each string as the SpreadDescriptor itself
    (kreuzwerker/terraform-provider-docker `internal/provider/resource_docker_service_structures.go`,
    `stringSetToPlacementPrefs`), and swarmkit ignores a descriptor that does not start with
    `node.labels.` or `engine.labels.` (moby v28.5.2
    `vendor/github.com/moby/swarmkit/v2/manager/scheduler/nodeset.go`): the CLI's `spread=` prefix
    must not be sent."""
    return [f"node.labels.{swarm.spread_label}"]


def node_constraint(label: str) -> str:
    """A placement constraint: only nodes that carry `label=true` (`docker node update --label-add`)."""
    return f"node.labels.{label} == true"


def service_labels(labels: Mapping[str, str]) -> list[docker.ServiceLabelArgs]:
    return [docker.ServiceLabelArgs(label=key, value=value) for key, value in sorted(labels.items())]


def container_labels(labels: Mapping[str, str]) -> list[docker.ServiceTaskSpecContainerSpecLabelArgs]:
    return [
        docker.ServiceTaskSpecContainerSpecLabelArgs(label=key, value=value) for key, value in sorted(labels.items())
    ]


def tmpfs(target: str, size_mb: int, mode: int = 0o1777) -> docker.ServiceTaskSpecContainerSpecMountArgs:
    return docker.ServiceTaskSpecContainerSpecMountArgs(
        target=target,
        type="tmpfs",
        tmpfs_options=docker.ServiceTaskSpecContainerSpecMountTmpfsOptionsArgs(size_bytes=size_mb * MIB, mode=mode),
    )


def converge_timeout(replicas: int, swarm: SwarmSettings, start_seconds: int) -> str:
    """How long `pulumi up` waits for a rollout to converge: every batch starts, becomes healthy and
    is watched for the monitor window, then the delay, with a margin of one more batch."""
    batches = math.ceil(max(replicas, 1) / swarm.update_parallelism) + 1
    per_batch = start_seconds + swarm.monitor_seconds + swarm.update_delay_seconds
    return seconds(batches * per_batch)


def environment_map(variables: Sequence[tuple[str, str]]) -> dict[str, str]:
    return dict(sorted(variables))


# The registry's platform list, which the Docker client writes into `placement.platforms` on every
# service create (moby v28.5.2 `client/service_create.go`, `resolveContainerSpecImage`, run since the
# provider sets `QueryRegistry` in `resourceDockerServiceCreate`,
# kreuzwerker/terraform-provider-docker `internal/provider/resource_docker_service_funcs.go`). It is
# the registry's fact, not the program's: left out of the diff.
SERVICE_IGNORED = ["taskSpec.placement.platforms"]


def pinned_image(image: str) -> pulumi.Input[str]:
    """The image as the service reads it back: `name:tag@sha256:<digest>`.

    On create the Docker client resolves a tag to its digest and stores `name:tag@digest`
    (`imageWithDigestString`, same file); a tag alone would differ from state, and the next
    `pulumi up` would roll every service (data services stop-first). A reference that already
    carries a digest is kept as it is; otherwise the digest comes from the registry
    (`docker.get_registry_image`, the provider's `docker_registry_image` data source)."""
    last = image.rsplit("/", 1)[-1]
    if "@sha256:" in image or ":" not in last or last.endswith(":latest"):
        return image  # already pinned; or not pinned at all, which the policy pack refuses as it is

    return docker.get_registry_image_output(name=image).sha256_digest.apply(lambda digest: f"{image}@{digest}")
