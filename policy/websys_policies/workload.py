"""One view of a workload, whether a Docker container (host platform) or a Swarm service's task spec,
so that every container rule applies to both.

Every field is read with the typed readers of common.py: a wrong type or a null becomes the value
that fails the rule (no user, no limit, no read-only root), never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .common import (
    CONTAINER,
    SECRET,
    SERVICE,
    as_int,
    as_list,
    as_map,
    as_str,
    env_entries,
    is_true,
    service_of,
)

NAMESPACES = ("network", "pid", "ipc", "userns")


@dataclass(frozen=True)
class Workload:
    kind: str  # "container" or "service"
    service: str  # what the resource says it is (for messages only; exemptions go by URN)
    privileged: bool
    security_opts: list[str] | None  # None: the resource cannot express them (Swarm task specs)
    cap_drops: list[str]  # normalised: upper case, without the CAP_ prefix
    cap_adds: list[str]
    user: str
    memory: int  # bytes; 0 when unset
    memory_swap: int | None  # bytes (memory + swap); None where the resource cannot set it
    healthcheck: list[str]
    long_running: bool
    restart: str  # normalised to Docker's container policies: unless-stopped, always, on-failure, no
    image: str
    log_driver: str
    log_options: Mapping[str, str]
    published_ports: list[int]
    publish_all_ports: bool
    read_only: bool
    namespaces: dict[str, str]  # namespace -> mode (network: host, pid: host, ...)
    host_paths: list[str]  # host paths bind-mounted into the container
    devices: list[str]  # host devices, device rules and device requests, as text
    selinux_disabled: bool
    # (name, value); value None when the whole entry is a secret (a secret Output in a container's envs)
    env: list[tuple[str, str | None]] = field(default_factory=list)


def capability(name: Any) -> str:
    """Docker's spelling of a capability, as moby's oci/caps NormalizeLegacyCapabilities reads it:
    upper case, with or without the CAP_ prefix; ALL stays ALL."""
    upper = as_str(name).strip().upper()
    return upper[4:] if upper.startswith("CAP_") and upper != "CAP_ALL" else upper


def _strings(value: Any) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in as_map(value).items()}


MB = 1024 * 1024


def volume_bind_path(driver_options: Any) -> str:
    """The host path a local volume binds (driver options `o=bind` and `device=PATH`), or ""."""
    options = {key.strip().lower(): value for key, value in _strings(driver_options).items()}
    binds = "bind" in [o.strip().lower() for o in options.get("o", "").split(",")]
    return options.get("device", "") if binds else ""


def _container_host_paths(props: Mapping[str, Any]) -> list[str]:
    paths = [as_str(as_map(v).get("hostPath")) for v in as_list(props.get("volumes"))]
    for mount in (as_map(m) for m in as_list(props.get("mounts"))):
        if as_str(mount.get("type")).strip().lower() in ("bind", ""):
            paths.append(as_str(mount.get("source")))
        paths.append(volume_bind_path(as_map(mount.get("volumeOptions")).get("driverOptions")))
    return [p for p in paths if p.strip()]


def _container(props: Mapping[str, Any]) -> Workload:
    capabilities = as_map(props.get("capabilities"))
    memory = as_int(props.get("memory"))
    swap = as_int(props.get("memorySwap"), default=0)
    devices = [
        *(f"{as_str(as_map(d).get('hostPath')) or '?'}" for d in as_list(props.get("devices"))),
        *(f"rule {as_str(r)}" for r in as_list(props.get("deviceCgroupRules"))),
        *("device request" for _ in as_list(props.get("deviceRequests"))),
    ]
    if as_str(props.get("gpus")).strip():
        devices.append(f"gpus {as_str(props.get('gpus'))}")
    return Workload(
        kind="container",
        service=service_of(props),
        privileged=is_true(props.get("privileged")),
        security_opts=[as_str(o) for o in as_list(props.get("securityOpts"))],
        cap_drops=[capability(c) for c in as_list(capabilities.get("drops"))],
        cap_adds=[capability(c) for c in as_list(capabilities.get("adds"))],
        user=as_str(props.get("user")),
        memory=max(memory, 0) * MB,
        # pulumi-docker: memory_swap is memory + swap in MB; -1 is unlimited, 0 or unset Docker's default.
        memory_swap=swap * MB if swap > 0 else swap,
        healthcheck=[as_str(t) for t in as_list(as_map(props.get("healthcheck")).get("tests"))],
        long_running=props.get("mustRun") is not False,
        restart=as_str(props.get("restart")) or "no",
        image=as_str(props.get("image")),
        log_driver=as_str(props.get("logDriver")) or "json-file",
        log_options=_strings(props.get("logOpts")),
        published_ports=[
            as_int(as_map(p).get("external")) or as_int(as_map(p).get("internal")) for p in as_list(props.get("ports"))
        ],
        publish_all_ports=is_true(props.get("publishAllPorts")),
        read_only=is_true(props.get("readOnly")),
        namespaces={
            ns: as_str(props.get(key)).strip().lower()
            for ns, key in zip(NAMESPACES, ("networkMode", "pidMode", "ipcMode", "usernsMode"), strict=True)
        },
        host_paths=_container_host_paths(props),
        devices=devices,
        selinux_disabled=False,
        env=list(env_entries(props)),
    )


_SWARM_RESTART = {"any": "always", "on-failure": "on-failure", "none": "no"}


def _service(props: Mapping[str, Any]) -> Workload:
    task = as_map(props.get("taskSpec"))
    spec = as_map(task.get("containerSpec"))
    log = as_map(task.get("logDriver"))
    env = as_map(spec.get("env"))
    mounts = [as_map(m) for m in as_list(spec.get("mounts"))]
    host_paths = [as_str(m.get("source")) for m in mounts if as_str(m.get("type")).strip().lower() == "bind"]
    host_paths.extend(p for m in mounts if (p := volume_bind_path(as_map(m.get("volumeOptions")).get("driverOptions"))))
    networks = [as_str(as_map(n).get("name")).strip().lower() for n in as_list(task.get("networksAdvanced"))]
    selinux = as_map(as_map(spec.get("privileges")).get("seLinuxContext"))
    return Workload(
        kind="service",
        service=service_of({"labels": props.get("labels"), "name": props.get("name")}),
        privileged=False,  # a Swarm task cannot be privileged
        security_opts=None,
        cap_drops=[capability(c) for c in as_list(spec.get("capDrops"))],
        cap_adds=[capability(c) for c in as_list(spec.get("capAdds"))],
        user=as_str(spec.get("user")),
        memory=max(as_int(as_map(as_map(task.get("resources")).get("limits")).get("memoryBytes")), 0),
        memory_swap=None,
        healthcheck=[as_str(t) for t in as_list(as_map(spec.get("healthcheck")).get("tests"))],
        long_running=True,
        restart=_SWARM_RESTART.get(as_str(as_map(task.get("restartPolicy")).get("condition")) or "any", "no"),
        image=as_str(spec.get("image")),
        log_driver=as_str(log.get("name")) or "json-file",
        log_options=_strings(log.get("options")),
        published_ports=[
            as_int(as_map(p).get("publishedPort")) for p in as_list(as_map(props.get("endpointSpec")).get("ports"))
        ],
        publish_all_ports=False,
        read_only=is_true(spec.get("readOnly")),
        # A task attached to the swarm's `host` network shares the node's network namespace.
        namespaces={"network": "host"} if "host" in networks else {},
        host_paths=[p for p in host_paths if p.strip()],
        devices=[],
        selinux_disabled=is_true(selinux.get("disable")),
        env=[
            (as_str(k), None if v == SECRET else as_str(v)) for k, v in sorted(env.items(), key=lambda i: as_str(i[0]))
        ],
    )


def workload(resource_type: str, props: Mapping[str, Any]) -> Workload | None:
    if resource_type == CONTAINER:
        return _container(props)
    if resource_type == SERVICE:
        return _service(props)
    return None
