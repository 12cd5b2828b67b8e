"""Rules for every workload (a container, or a Swarm service's task spec): the guide's security section
made enforceable. Isolation from the host (namespaces, mounts, devices, profiles) is in isolation.py."""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .base import checked, exempted, resource_policy
from .common import REMOTE_IMAGE, as_str, is_pinned, is_secret_name, root_user, secret_in_value

# Capabilities a container may add back after dropping all; anything else needs a reviewed exemption.
ALLOWED_CAPABILITIES = frozenset({"CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE"})
# Drivers whose logs are bounded on the host without options: journald and syslog hand them to the
# host's own log service; local rotates by default (20 MB x 5, moby daemon/logger/local/config.go).
BOUNDED_DRIVERS = frozenset({"journald", "syslog", "none"})
MAX_LOG_BYTES = 1024**3  # per container: max-size x max-file
# moby's go-units RAMInBytes: "10m", "10 MiB", "1.5g" (binary multiples).
SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def _not_privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is not None and w.privileged:
        report(f"{w.kind} {args.name!r} is privileged", None)


def _no_new_privileges(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """no-new-privileges as the daemon reads securityOpts (moby daemon/daemon_unix.go parseSecurityOpt):
    `no-new-privileges` alone, or `no-new-privileges=BOOL` (`:` is the legacy separator) with Go's
    strconv.ParseBool; the last entry wins."""
    w = checked(args)
    # A Swarm task spec has no security options in pulumi-docker v5; capabilities cover it there.
    if w is None or w.security_opts is None:
        return
    value = False
    for option in w.security_opts:
        if option == "no-new-privileges":
            value = True
            continue
        key, _, setting = option.partition("=") if "=" in option else option.partition(":")
        if key == "no-new-privileges":
            if setting in ("1", "t", "T", "TRUE", "true", "True"):
                value = True
            elif setting in ("0", "f", "F", "FALSE", "false", "False"):
                value = False
            else:
                report(f"{w.kind} {args.name!r}: security option {option!r} is not a boolean", None)
                return
    if not value:
        report(f"{w.kind} {args.name!r} does not set security option no-new-privileges=true", None)


def _capabilities_dropped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None:
        return
    if "ALL" not in w.cap_drops:
        report(f"{w.kind} {args.name!r} does not drop all capabilities (drops must include ALL)", None)
    exemption = exempted(args)
    allowed = ALLOWED_CAPABILITIES | {c.upper().removeprefix("CAP_") for c in (exemption.allow if exemption else ())}
    extra = sorted(set(w.cap_adds) - allowed)
    if extra:
        report(f"{w.kind} {args.name!r} adds capabilities outside the allowed list: {', '.join(extra)}", None)


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None or exempted(args):
        return
    why = root_user(w.user)
    if why:
        report(f"{w.kind} {args.name!r} may run as root: {why}", None)


def _memory_limit(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is not None and w.memory <= 0:
        report(f"{w.kind} {args.name!r} has no memory limit", None)


def _healthcheck(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None or exempted(args):
        return
    if w.long_running and (not w.healthcheck or w.healthcheck[0].strip().upper() == "NONE"):
        report(f"long-running {w.kind} {args.name!r} has no healthcheck", None)


def _restart_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is not None and w.restart not in ("unless-stopped", "always", "on-failure"):
        report(f"{w.kind} {args.name!r} has restart policy {w.restart!r}; use unless-stopped (services: any)", None)


def _image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == REMOTE_IMAGE:
        image = as_str(args.props.get("name"))
    else:
        w = checked(args)
        if w is None:
            return
        image = w.image
    if not is_pinned(image):
        report(f"image {image!r} is not pinned by a version tag or digest", None)


def _size(text: str) -> int | None:
    match = SIZE.match(text.strip())
    if not match:
        return None
    try:
        number = float(match.group(1))
    except ValueError:  # "1.2.3" matches the pattern; Go's ParseFloat refuses it, and so does Docker
        return None
    return int(number * UNITS[(match.group(2) or "").lower()])


def _log_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None or w.log_driver.strip() in BOUNDED_DRIVERS:
        return
    driver, options = w.log_driver.strip(), w.log_options
    if driver not in ("json-file", "local"):
        report(f"{w.kind} {args.name!r} logs with driver {driver!r}, which the pack cannot bound", None)
        return
    # local rotates by default; json-file keeps one ever-growing file unless told (moby json-file driver).
    default_size, default_files = ("20m", "5") if driver == "local" else (None, None)
    size = _size(options.get("max-size") or default_size or "")
    files_text = (options.get("max-file") or default_files or "").strip()
    files = int(files_text) if files_text.isdigit() else 0
    if not size or files < 1:
        report(f"{w.kind} {args.name!r} logs without rotation (set max-size and max-file to positive values)", None)
    elif size * files > MAX_LOG_BYTES:
        report(f"{w.kind} {args.name!r} may keep {size * files} bytes of logs; at most {MAX_LOG_BYTES}", None)


def _published_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None:
        return
    if w.publish_all_ports:
        report(f"{w.kind} {args.name!r} publishes all its exposed ports", None)
    exemption = exempted(args)
    allowed = set(exemption.allow if exemption else ())
    extra = sorted({p for p in w.published_ports if str(p) not in allowed})
    if extra:
        if exemption:
            report(f"{w.kind} {args.name!r} publishes ports {extra}; its exemption allows {sorted(allowed)}", None)
        else:
            report(f"{w.kind} {args.name!r} publishes host ports {extra}; only the reviewed proxy may", None)


def _no_plaintext_secret_env(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = checked(args)
    if w is None:
        return
    for name, value in w.env:
        if value is None:
            continue
        in_value = secret_in_value(value)
        if in_value:
            report(f"{w.kind} {args.name!r}: environment variable {name} carries {in_value}", None)
        elif is_secret_name(name):
            if name.strip().upper().endswith("_FILE") and value.startswith("/") and "\n" not in value:
                continue  # the path of a secret file, which the image's entrypoint reads
            report(f"{w.kind} {args.name!r}: environment variable {name} carries a plaintext value", None)


CONTAINER_POLICIES = [
    resource_policy(
        "container-not-privileged",
        "Containers must not run privileged.",
        _not_privileged,
        Severity.CRITICAL,
        "Remove `privileged=True`; add the single capability the process needs instead.",
    ),
    resource_policy(
        "container-no-new-privileges",
        "Containers set no-new-privileges, and nothing later in securityOpts turns it off.",
        _no_new_privileges,
        Severity.HIGH,
        'Add security_opts=["no-new-privileges=true"] and no no-new-privileges=false.',
    ),
    resource_policy(
        "container-capabilities-dropped",
        "Containers drop all Linux capabilities and add back only listed ones (CAP_ prefix or not, any case).",
        _capabilities_dropped,
        Severity.HIGH,
        f'Set capabilities drops=["ALL"] and add only from {sorted(ALLOWED_CAPABILITIES)}; another needs an '
        "exemption by URN with `allow` in the pack config.",
        exemptable=True,
    ),
    resource_policy(
        "container-non-root",
        "Containers run as a numeric, non-zero uid.",
        _non_root,
        Severity.HIGH,
        "Set `user` to the image's unprivileged uid:gid (for example 1000:1000, or 70:70 for postgres:alpine).",
        exemptable=True,
    ),
    resource_policy(
        "container-memory-limit",
        "Containers have a memory limit.",
        _memory_limit,
        Severity.MEDIUM,
        "Set `memory` (MB) from the stack's resources settings.",
    ),
    resource_policy(
        "container-healthcheck",
        "Long-running containers have a healthcheck.",
        _healthcheck,
        Severity.MEDIUM,
        "Add a healthcheck that probes the service itself (HTTP path, pg_isready, redis-cli ping).",
        exemptable=True,
    ),
    resource_policy(
        "container-restart-policy",
        "Containers restart after a crash or a reboot.",
        _restart_policy,
        Severity.MEDIUM,
        'Set restart="unless-stopped".',
    ),
    resource_policy(
        "image-pinned",
        "Images are pinned by a version tag or a digest, never `latest` or untagged.",
        _image_pinned,
        Severity.HIGH,
        "Use name:1.2.3 or name@sha256:<digest> in the stack's settings.",
    ),
    resource_policy(
        "container-log-rotation",
        "Container logs are bounded: json-file or local with positive max-size and max-file, at most 1 GiB.",
        _log_rotation,
        Severity.MEDIUM,
        'Use log_driver="json-file" with log_opts max-size and max-file (websys:logging).',
    ),
    resource_policy(
        "published-ports-nginx-only",
        "Only the resources the pack config lists by URN (the proxy) publish host ports, and only the ports listed.",
        _published_ports,
        Severity.CRITICAL,
        "Remove `ports` from the container; reach it through nginx or the internal network.",
        exemptable=True,
    ),
    resource_policy(
        "env-no-plaintext-secret",
        "No environment variable carries a plaintext secret: by its name (*PASSWORD*, *_PASS, *_DSN, "
        "*TOKEN*, *_KEY, ...) or by its value (a PEM block, a URL with user:password@).",
        _no_plaintext_secret_env,
        Severity.CRITICAL,
        "Pass the value as a Pulumi secret Output (or a *_FILE pointing at a secret file), set with "
        "`pulumi config set --secret`.",
    ),
]
