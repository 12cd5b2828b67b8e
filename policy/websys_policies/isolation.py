"""Rules that keep a workload apart from its host: namespaces, host mounts, devices, security
profiles, a read-only root filesystem and no swap. Each admits exemptions by URN only (exemptions.py)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .base import checked, exempted, resource_policy
from .common import VOLUME, as_map, dangerous_host_path, normal_path
from .workload import volume_bind_path

# Security options that switch a confinement off (moby daemon/daemon_unix.go parseSecurityOpt; the
# `:` separator is the legacy spelling). Values are compared as Docker compares them, exactly.
UNCONFINED = {
    "seccomp": "unconfined",
    "apparmor": "unconfined",
    "systempaths": "unconfined",
}


def _host_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None:
        return
    exemption = exempted(args)
    for namespace, mode in sorted(w.namespaces.items()):
        if mode == "host" and not (exemption and namespace in exemption.allow):
            report(f"{w.kind} {args.name!r} shares the host's {namespace} namespace", None)


def _host_mounts(args: ResourceValidationArgs, report: ReportViolation) -> None:
    exemption = exempted(args)
    allow = {normal_path(path) for path in (exemption.allow if exemption else ())}
    if args.resource_type == VOLUME:
        # A local volume with o=bind and device=PATH mounts PATH wherever the volume is used.
        path = volume_bind_path(as_map(args.props).get("driverOpts"))
        paths, kind = [path] if path else [], "volume"
    else:
        w = checked(args)
        if w is None:
            return
        paths, kind = w.host_paths, w.kind
    for path in paths:
        why = dangerous_host_path(path)
        if why and normal_path(path) not in allow:
            report(f"{kind} {args.name!r} mounts {why} from the host", None)


def _no_devices(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None or not w.devices or exempted(args):
        return
    report(f"{w.kind} {args.name!r} is given host devices: {', '.join(sorted(w.devices))}", None)


def _security_profiles(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None:
        return
    if w.selinux_disabled:
        report(f"{w.kind} {args.name!r} disables SELinux labelling", None)
    for option in w.security_opts or []:
        if option in ("no-new-privileges", "disable"):
            if option == "disable":
                report(f"{w.kind} {args.name!r} disables SELinux labelling ({option!r})", None)
            continue
        key, sep, value = option.partition("=") if "=" in option else option.partition(":")
        if not sep or key not in ("no-new-privileges", "label", *UNCONFINED):
            report(f"{w.kind} {args.name!r}: security option {option!r} is not one Docker accepts", None)
        elif UNCONFINED.get(key) == value:
            report(f"{w.kind} {args.name!r} runs {key} unconfined ({option!r})", None)
        elif key == "label" and (value == "disable" or value.replace(" ", "") in ("type:spc_t", "type=spc_t")):
            report(f"{w.kind} {args.name!r} disables SELinux confinement ({option!r})", None)


def _read_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is not None and not w.read_only and not exempted(args):
        report(f"{w.kind} {args.name!r} has a writable root filesystem (readOnly is not true)", None)


def _swap_bounded(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None or w.memory_swap is None or w.memory <= 0:
        # A Swarm task spec has no swap setting in pulumi-docker v5; without a memory limit Docker
        # refuses a swap limit, and container-memory-limit reports the missing limit.
        return
    if w.memory_swap < 0:
        report(f"{w.kind} {args.name!r} may swap without bound (memorySwap {w.memory_swap // 2**20})", None)
    elif w.memory_swap == 0:
        report(f"{w.kind} {args.name!r} leaves swap to Docker's default (memorySwap unset)", None)
    elif w.memory_swap > w.memory:
        report(
            f"{w.kind} {args.name!r} may swap {(w.memory_swap - w.memory) // 2**20} MB beyond its memory limit", None
        )


ISOLATION_POLICIES = [
    resource_policy(
        "container-host-namespaces",
        "Workloads do not share the host's network, PID, IPC or user namespace (Swarm: the host network).",
        _host_namespaces,
        Severity.CRITICAL,
        "Remove network_mode/pid_mode/ipc_mode/userns_mode=host; an exporter that needs one is exempted by URN "
        'with `allow: ["pid"]`.',
        exemptable=True,
    ),
    resource_policy(
        "container-host-mounts",
        "No workload or volume mounts the host's / or a container engine socket (or a directory holding one), "
        "however the path is spelled.",
        _host_mounts,
        Severity.CRITICAL,
        "Mount only the paths the process needs; an exporter that reads the host is exempted by URN with "
        "`allow` naming each path.",
        exemptable=True,
    ),
    resource_policy(
        "container-no-devices",
        "Workloads get no host devices, device cgroup rules, device requests or GPUs.",
        _no_devices,
        Severity.HIGH,
        "Remove `devices`, `device_cgroup_rules`, `device_requests` and `gpus`.",
        exemptable=True,
    ),
    resource_policy(
        "container-security-profiles",
        "Workloads keep Docker's seccomp and AppArmor profiles and SELinux labels (nothing unconfined).",
        _security_profiles,
        Severity.HIGH,
        "Remove seccomp=unconfined, apparmor=unconfined, label=disable and systempaths=unconfined.",
    ),
    resource_policy(
        "container-read-only",
        "Workloads run with a read-only root filesystem, unless exempted by URN.",
        _read_only,
        Severity.MEDIUM,
        "Set read_only=True with a tmpfs for scratch paths; a service that writes its root is exempted by URN.",
        exemptable=True,
    ),
    resource_policy(
        "container-swap-bounded",
        "Containers do not swap: memorySwap equals the memory limit.",
        _swap_bounded,
        Severity.MEDIUM,
        "Set memory_swap to the same value as memory.",
    ),
]
