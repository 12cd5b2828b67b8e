"""Rules for every workload (a container, or a Swarm service's task spec): the guide's security section
made enforceable."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from .common import REMOTE_IMAGE, is_pinned, is_secret_name
from .workload import Workload, workload

MANDATORY = EnforcementLevel.MANDATORY
# Capabilities a container may add back after dropping all; anything else needs a review.
ALLOWED_CAPABILITIES = frozenset({"CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE"})
ROTATING_DRIVERS = frozenset({"local", "journald", "syslog", "none"})
PUBLIC_PORTS = frozenset({80, 443})


# Pack config of a rule that admits reviewed exceptions: {"exemptions": {"<service>": "<why>"}}.
EXEMPTIONS_SCHEMA = PolicyConfigSchema(
    properties={
        "exemptions": {
            "type": "object",
            "description": "Services (their com.websys.service label) exempt from this rule, each with the reason.",
            "additionalProperties": {"type": "string", "minLength": 10},
        }
    }
)


def _exempt(args: ResourceValidationArgs, service: str) -> bool:
    """A service listed, with its reason, in the rule's `exemptions` pack config."""
    exemptions = args.get_config().get("exemptions") or {}
    return bool(str(exemptions.get(service, "")).strip())


def _checked(args: ResourceValidationArgs, exemptable: bool = False) -> Workload | None:
    """The workload to check: a container or a Swarm service, unless the rule exempts its service."""
    found = workload(args.resource_type, args.props)
    if found is None or (exemptable and _exempt(args, found.service)):
        return None
    return found


def _not_privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args)
    if w is not None and w.privileged:
        report(f"{w.kind} {args.name!r} is privileged", None)


def _no_new_privileges(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args)
    # A Swarm task spec has no security options in pulumi-docker v5; capabilities cover it there.
    if w is not None and w.no_new_privileges is False:
        report(f"{w.kind} {args.name!r} does not set security option no-new-privileges=true", None)


def _capabilities_dropped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args, exemptable=True)
    if w is None:
        return
    if "ALL" not in w.cap_drops:
        report(f"{w.kind} {args.name!r} does not drop all capabilities (drops must include ALL)", None)
    extra = sorted(set(w.cap_adds) - ALLOWED_CAPABILITIES)
    if extra:
        report(f"{w.kind} {args.name!r} adds capabilities outside the allowed list: {', '.join(extra)}", None)


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args, exemptable=True)
    if w is not None and w.user.split(":", 1)[0] in ("", "0", "root"):
        report(f"{w.kind} {args.name!r} runs as root (set `user` to an unprivileged uid:gid)", None)


def _memory_limit(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args)
    if w is not None and w.memory <= 0:
        report(f"{w.kind} {args.name!r} has no memory limit", None)


def _healthcheck(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args, exemptable=True)
    if w is not None and w.long_running and (not w.healthcheck or w.healthcheck[0].upper() == "NONE"):
        report(f"long-running {w.kind} {args.name!r} has no healthcheck", None)


def _restart_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args)
    if w is not None and w.restart not in ("unless-stopped", "always", "on-failure"):
        report(f"{w.kind} {args.name!r} has restart policy {w.restart!r}; use unless-stopped (services: any)", None)


def _image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == REMOTE_IMAGE:
        image = str(args.props.get("name") or "")
    else:
        w = _checked(args)
        if w is None:
            return
        image = w.image
    if not is_pinned(image):
        report(f"image {image!r} is not pinned by a version tag or digest", None)


def _log_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args)
    if w is None or w.log_driver in ROTATING_DRIVERS:
        return
    if w.log_driver != "json-file" or "max-size" not in w.log_options or "max-file" not in w.log_options:
        report(f"{w.kind} {args.name!r} logs without rotation (set max-size and max-file)", None)


def _published_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args, exemptable=True)
    if w is None or not w.published_ports:
        return
    if w.service != "nginx":
        report(f"{w.kind} {args.name!r} publishes host ports; only nginx may", None)
    elif set(w.published_ports) - PUBLIC_PORTS:
        report(f"nginx publishes ports {sorted(set(w.published_ports))}; only 80 and 443 may be published", None)


def _no_plaintext_secret_env(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = _checked(args)
    if w is None:
        return
    for name, value in w.env:
        if value is not None and is_secret_name(name) and not name.endswith("_FILE"):
            report(f"{w.kind} {args.name!r}: environment variable {name} carries a plaintext value", None)


def _policy(
    name: str, description: str, validate: object, severity: Severity, remediation: str, exemptable: bool = False
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,  # type: ignore[arg-type]
        enforcement_level=MANDATORY,
        severity=severity,
        remediation_steps=remediation,
        config_schema=EXEMPTIONS_SCHEMA if exemptable else None,
    )


CONTAINER_POLICIES = [
    _policy(
        "container-not-privileged",
        "Containers must not run privileged.",
        _not_privileged,
        Severity.CRITICAL,
        "Remove `privileged=True`; add the single capability the process needs instead.",
    ),
    _policy(
        "container-no-new-privileges",
        "Containers must set no-new-privileges.",
        _no_new_privileges,
        Severity.HIGH,
        'Add security_opts=["no-new-privileges=true"].',
    ),
    _policy(
        "container-capabilities-dropped",
        "Containers drop all Linux capabilities and add back only listed ones.",
        _capabilities_dropped,
        Severity.HIGH,
        f'Set capabilities drops=["ALL"] and add only from {sorted(ALLOWED_CAPABILITIES)}.',
        exemptable=True,
    ),
    _policy(
        "container-non-root",
        "Containers run as an unprivileged user.",
        _non_root,
        Severity.HIGH,
        "Set `user` to the image's unprivileged uid:gid (for example 1000:1000, or 70:70 for postgres:alpine).",
        exemptable=True,
    ),
    _policy(
        "container-memory-limit",
        "Containers have a memory limit.",
        _memory_limit,
        Severity.MEDIUM,
        "Set `memory` (MB) from the stack's resources settings.",
    ),
    _policy(
        "container-healthcheck",
        "Long-running containers have a healthcheck.",
        _healthcheck,
        Severity.MEDIUM,
        "Add a healthcheck that probes the service itself (HTTP path, pg_isready, redis-cli ping).",
        exemptable=True,
    ),
    _policy(
        "container-restart-policy",
        "Containers restart after a crash or a reboot.",
        _restart_policy,
        Severity.MEDIUM,
        'Set restart="unless-stopped".',
    ),
    _policy(
        "image-pinned",
        "Images are pinned by a version tag or a digest, never `latest` or untagged.",
        _image_pinned,
        Severity.HIGH,
        "Use name:1.2.3 or name@sha256:<digest> in the stack's settings.",
    ),
    _policy(
        "container-log-rotation",
        "Container logs rotate.",
        _log_rotation,
        Severity.MEDIUM,
        'Use log_driver="json-file" with log_opts max-size and max-file (websys:logging).',
    ),
    _policy(
        "published-ports-nginx-only",
        "Only nginx publishes host ports, and only 80 and 443.",
        _published_ports,
        Severity.CRITICAL,
        "Remove `ports` from the container; reach it through nginx or the internal network.",
        exemptable=True,
    ),
    _policy(
        "env-no-plaintext-secret",
        "No environment variable named like a secret carries a plaintext value.",
        _no_plaintext_secret_env,
        Severity.CRITICAL,
        "Pass the value as a Pulumi secret Output (or a *_FILE pointing at a secret file), set with "
        "`pulumi config set --secret`.",
    ),
]
