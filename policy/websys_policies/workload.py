"""One view of a workload, whether a Docker container (host platform) or a Swarm service's task spec,
so that every container rule applies to both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .common import CONTAINER, SECRET, SERVICE, env_entries, service_of


@dataclass(frozen=True)
class Workload:
    kind: str  # "container" or "service"
    service: str  # the com.websys.service label (or what the name says)
    privileged: bool
    no_new_privileges: bool | None  # None: the resource cannot express it (Swarm task specs)
    cap_drops: list[str]
    cap_adds: list[str]
    user: str
    memory: int
    healthcheck: list[str]
    long_running: bool
    restart: str  # normalised to Docker's container policies: unless-stopped, always, on-failure, no
    image: str
    log_driver: str
    log_options: Mapping[str, Any]
    published_ports: list[int]
    # (name, value); value None when the whole entry is a secret (a secret Output in a container's envs)
    env: list[tuple[str, str | None]] = field(default_factory=list)


def _container(props: Mapping[str, Any]) -> Workload:
    capabilities = props.get("capabilities") or {}
    options = [str(o).replace("=", ":") for o in props.get("securityOpts") or []]
    return Workload(
        kind="container",
        service=service_of(props),
        privileged=bool(props.get("privileged")),
        # `=` is Docker's spelling, `:` its deprecated one (moby daemon/daemon_unix.go, parseSecurityOpt).
        no_new_privileges=any(
            o in ("no-new-privileges=true", "no-new-privileges:true", "no-new-privileges") for o in options
        ),
        # Docker's CAP_ form (what it reads back) and the bare name are the same capability.
        cap_drops=[str(c).upper().removeprefix("CAP_") for c in capabilities.get("drops") or []],
        cap_adds=[str(c).upper().removeprefix("CAP_") for c in capabilities.get("adds") or []],
        user=str(props.get("user") or ""),
        memory=int(props.get("memory") or 0),
        healthcheck=[str(t) for t in (props.get("healthcheck") or {}).get("tests") or []],
        long_running=props.get("mustRun") is not False,
        restart=str(props.get("restart") or "no"),
        image=str(props.get("image") or ""),
        log_driver=str(props.get("logDriver") or "json-file"),
        log_options=props.get("logOpts") or {},
        published_ports=[int(p.get("external") or p.get("internal") or 0) for p in props.get("ports") or []],
        env=list(env_entries(props)),
    )


_SWARM_RESTART = {"any": "always", "on-failure": "on-failure", "none": "no"}


def _service(props: Mapping[str, Any]) -> Workload:
    task = props.get("taskSpec") or {}
    spec = task.get("containerSpec") or {}
    log = task.get("logDriver") or {}
    env = spec.get("env") or {}
    return Workload(
        kind="service",
        service=service_of({"labels": props.get("labels"), "name": props.get("name")}),
        privileged=False,  # a Swarm task cannot be privileged
        no_new_privileges=None,
        cap_drops=[str(c).upper().removeprefix("CAP_") for c in spec.get("capDrops") or []],
        cap_adds=[str(c).upper().removeprefix("CAP_") for c in spec.get("capAdds") or []],
        user=str(spec.get("user") or ""),
        memory=int(((task.get("resources") or {}).get("limits") or {}).get("memoryBytes") or 0),
        healthcheck=[str(t) for t in (spec.get("healthcheck") or {}).get("tests") or []],
        long_running=True,
        restart=_SWARM_RESTART.get(str((task.get("restartPolicy") or {}).get("condition") or "any"), "no"),
        image=str(spec.get("image") or ""),
        log_driver=str(log.get("name") or "json-file"),
        log_options=log.get("options") or {},
        published_ports=[
            int(p.get("publishedPort") or 0) for p in (props.get("endpointSpec") or {}).get("ports") or []
        ],
        env=[(str(k), None if v == SECRET else str(v)) for k, v in sorted(env.items())],
    )


def workload(resource_type: str, props: Mapping[str, Any]) -> Workload | None:
    if resource_type == CONTAINER:
        return _container(props)
    if resource_type == SERVICE:
        return _service(props)
    return None
