"""Rules for every Docker container: the guide's security section made enforceable."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from .common import CONTAINER, REMOTE_IMAGE, env_entries, is_pinned, is_secret_name, service_of

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


def _containers_only(args: ResourceValidationArgs) -> bool:
    return args.resource_type == CONTAINER


def _exempt(args: ResourceValidationArgs) -> bool:
    """A service listed, with its reason, in the rule's `exemptions` pack config."""
    exemptions = args.get_config().get("exemptions") or {}
    return bool(str(exemptions.get(service_of(args.props), "")).strip())


def _not_privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _containers_only(args) and args.props.get("privileged"):
        report(f"container {args.name!r} is privileged", None)


def _no_new_privileges(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args):
        return
    options = [str(o) for o in args.props.get("securityOpts") or []]
    if not any(o.replace("=", ":") in ("no-new-privileges:true", "no-new-privileges") for o in options):
        report(f"container {args.name!r} does not set security option no-new-privileges:true", None)


def _capabilities_dropped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args) or _exempt(args):
        return
    capabilities = args.props.get("capabilities") or {}
    drops = [str(c).upper() for c in capabilities.get("drops") or []]
    if "ALL" not in drops:
        report(f"container {args.name!r} does not drop all capabilities (capabilities.drops must include ALL)", None)
    extra = sorted({str(c).upper() for c in capabilities.get("adds") or []} - ALLOWED_CAPABILITIES)
    if extra:
        report(f"container {args.name!r} adds capabilities outside the allowed list: {', '.join(extra)}", None)


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args) or _exempt(args):
        return
    user = str(args.props.get("user") or "")
    if user.split(":", 1)[0] in ("", "0", "root"):
        report(f"container {args.name!r} runs as root (set `user` to an unprivileged uid:gid)", None)


def _memory_limit(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _containers_only(args) and not args.props.get("memory"):
        report(f"container {args.name!r} has no memory limit", None)


def _healthcheck(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args) or args.props.get("mustRun") is False or _exempt(args):
        return
    tests = (args.props.get("healthcheck") or {}).get("tests") or []
    if not tests or str(tests[0]).upper() == "NONE":
        report(f"long-running container {args.name!r} has no healthcheck", None)


def _restart_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args):
        return
    restart = str(args.props.get("restart") or "no")
    if restart not in ("unless-stopped", "always", "on-failure"):
        report(f"container {args.name!r} has restart policy {restart!r}; use unless-stopped", None)


def _image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == REMOTE_IMAGE:
        image = str(args.props.get("name") or "")
    elif args.resource_type == CONTAINER:
        image = str(args.props.get("image") or "")
    else:
        return
    if not is_pinned(image):
        report(f"image {image!r} is not pinned by a version tag or digest", None)


def _log_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args):
        return
    driver = str(args.props.get("logDriver") or "json-file")
    options = args.props.get("logOpts") or {}
    if driver in ROTATING_DRIVERS:
        return
    if driver != "json-file" or "max-size" not in options or "max-file" not in options:
        report(f"container {args.name!r} logs without rotation (set logOpts max-size and max-file)", None)


def _published_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args) or _exempt(args):
        return
    ports = args.props.get("ports") or []
    if not ports:
        return
    if service_of(args.props) != "nginx":
        report(f"container {args.name!r} publishes host ports; only nginx may", None)
        return
    external = sorted({int(p.get("external") or p.get("internal") or 0) for p in ports})
    if set(external) - PUBLIC_PORTS:
        report(f"nginx publishes ports {external}; only 80 and 443 may be published", None)


def _no_plaintext_secret_env(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _containers_only(args):
        return
    for name, value in env_entries(args.props):
        if value is not None and is_secret_name(name) and not name.endswith("_FILE"):
            report(f"container {args.name!r}: environment variable {name} carries a plaintext value", None)


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
        'Add security_opts=["no-new-privileges:true"].',
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
