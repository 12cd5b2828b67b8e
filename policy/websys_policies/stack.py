"""Rules about the stack as a whole: redundancy, protected data, private data services, backups, monitoring."""

from __future__ import annotations

from collections import Counter

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import BUCKET, CONTAINER, NETWORK, SERVICE, VOLUME, environment, is_data_service, labels, service_of

MANDATORY = EnforcementLevel.MANDATORY
MIN_PRODUCTION_REPLICAS = 2


def _production_redundancy(args: StackValidationArgs, report: ReportViolation) -> None:
    if environment() != "production":
        return
    # Replicas per (service, color): containers on one host; a Swarm service's replica count.
    replicas: Counter[tuple[str, str]] = Counter()
    names = []
    for resource in args.resources:
        if resource.resource_type == CONTAINER:
            replicas[(service_of(resource.props), labels(resource.props).get("com.websys.color", ""))] += 1
        elif resource.resource_type == SERVICE:
            count = ((resource.props.get("mode") or {}).get("replicated") or {}).get("replicas") or 0
            replicas[(service_of(resource.props), "")] += int(count)
        else:
            continue
        names.append(str(resource.props.get("name", "")))
    for service in ("frontend", "backend"):
        best = max((count for (svc, _), count in replicas.items() if svc == service), default=0)
        if best < MIN_PRODUCTION_REPLICAS:
            report(f"production runs {best} {service} replica(s) in its largest color; at least 2 are required", None)
    if not any("-postgres-replica-" in name for name in names):
        report("production has no PostgreSQL streaming replica", None)


def _data_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (VOLUME, BUCKET) or environment() == "development":
        return
    if not args.opts.protect:
        report(f"{args.resource_type.rsplit(':', 1)[-1].lower()} {args.name!r} holds data but is not protected", None)


def _data_services_internal(args: StackValidationArgs, report: ReportViolation) -> None:
    internal = {
        str(r.props.get("name")) for r in args.resources if r.resource_type == NETWORK and r.props.get("internal")
    }
    for resource in args.resources:
        if resource.resource_type != CONTAINER or not is_data_service(resource.props):
            continue
        networks = [str(n.get("name")) for n in resource.props.get("networksAdvanced") or []]
        outside = [n for n in networks if n not in internal]
        if not networks or outside or resource.props.get("ports"):
            where = ", ".join(outside) if outside else ("published ports" if resource.props.get("ports") else "none")
            report(f"data service {resource.name!r} is reachable outside the internal network ({where})", resource.urn)


def _backups_and_monitoring(args: StackValidationArgs, report: ReportViolation) -> None:
    if environment() == "development":
        return
    types = {r.resource_type for r in args.resources}
    services = {service_of(r.props) for r in args.resources if r.resource_type == CONTAINER}
    if BUCKET not in types:
        report(f"{environment()} has no backup bucket", None)
    if "prometheus" not in services:
        report(f"{environment()} has no monitoring (no Prometheus container)", None)


STACK_POLICIES = [
    StackValidationPolicy(
        name="production-redundancy",
        description="Production runs at least 2 frontend and 2 backend replicas and a PostgreSQL replica.",
        validate=_production_redundancy,
        enforcement_level=MANDATORY,
        severity=Severity.HIGH,
        remediation_steps=(
            "Raise websys:frontend/backend.<color>.replicas to 2 or more and websys:postgres.replicas to 1."
        ),
    ),
    ResourceValidationPolicy(
        name="data-protected",
        description="Volumes and buckets that hold data are protected in staging and production.",
        validate=_data_protected,
        enforcement_level=MANDATORY,
        severity=Severity.CRITICAL,
        remediation_steps="Create the resource with ResourceOptions(protect=True, retain_on_delete=True).",
    ),
    StackValidationPolicy(
        name="data-services-internal",
        description="PostgreSQL and Redis sit only on internal networks and publish no ports.",
        validate=_data_services_internal,
        enforcement_level=MANDATORY,
        severity=Severity.CRITICAL,
        remediation_steps="Attach the container only to the stack's data network (internal=True); remove `ports`.",
    ),
    StackValidationPolicy(
        name="backups-and-monitoring",
        description="Staging and production have a backup bucket and a Prometheus.",
        validate=_backups_and_monitoring,
        enforcement_level=MANDATORY,
        severity=Severity.HIGH,
        remediation_steps="Keep the BackupStorage and monitoring components enabled in this stack.",
    ),
]
