"""What every container of the platform gets, in one place: no new privileges, every capability
dropped (unless one is named), memory without extra swap, a restart policy, rotated json-file logs and
the labels the policy pack and Prometheus read. The components add what is theirs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi_docker as docker

from components.capabilities import ALL, normalize_capabilities
from websys.settings.app import LoggingSettings

# Docker's own spelling (moby `daemon/daemon_unix.go`, `parseSecurityOpt`): `key=value`; the `key:value`
# form is deprecated there, and the daemon's Swarm executor writes this one
# (`daemon/cluster/executor/container/container.go`). Docker keeps SecurityOpt as sent.
NO_NEW_PRIVILEGES = "no-new-privileges=true"


def hardened(
    *,
    memory_mb: int,
    logging: LoggingSettings,
    labels: Mapping[str, str],
    capability_adds: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for docker.Container, to be spread into the call."""
    return {
        "security_opts": [NO_NEW_PRIVILEGES],
        "capabilities": docker.ContainerCapabilitiesArgs(
            drops=[ALL], adds=normalize_capabilities(capability_adds) or None
        ),
        "memory": memory_mb,
        "memory_swap": memory_mb,  # equal to memory: no swap beyond the limit
        "restart": "unless-stopped",
        "log_driver": "json-file",
        # Docker's json-file driver grows without bound unless told to rotate.
        "log_opts": {"max-size": logging.max_size, "max-file": str(logging.max_files)},
        "labels": [docker.ContainerLabelArgs(label=key, value=value) for key, value in sorted(labels.items())],
    }
