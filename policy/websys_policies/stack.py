"""Rules about the stack as a whole: redundancy, protected data, private data services, backups, monitoring.

Which stack is checked comes from the engine (PULUMI_STACK, see common.environment), never from the
plan; what each stack must contain comes from its pack config (policy/config/<stack>.json).
"""

from __future__ import annotations

from collections import Counter

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .base import resource_policy, stack_policy
from .common import (
    BUCKET,
    CONTAINER,
    DATA_SERVICES,
    NETWORK,
    REMOTE_IMAGE,
    SERVICE,
    VOLUME,
    as_int,
    as_list,
    as_map,
    as_str,
    environment,
    is_data_service,
    is_true,
    labels,
    service_of,
)

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
            count = as_int(as_map(as_map(resource.props.get("mode")).get("replicated")).get("replicas"))
            replicas[(service_of(resource.props), "")] += max(count, 0)
        else:
            continue
        names.append(as_str(resource.props.get("name")))
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


def _repository(reference: str) -> str:
    """The last path component of an image reference, without tag or digest: postgres for postgres:15-alpine."""
    name = reference.strip().split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def _runs_data_image(resource: PolicyResource) -> bool:
    """The container runs the official postgres or redis image: by its image input, or the RemoteImage it
    depends on. A label or a container name is what the change says; the image is what runs."""
    references = [as_str(resource.props.get("image"))]
    references += [as_str(d.props.get("name")) for d in resource.dependencies if d.resource_type == REMOTE_IMAGE]
    return any(_repository(ref) in DATA_SERVICES for ref in references if ref)


def _data_services_internal(args: StackValidationArgs, report: ReportViolation) -> None:
    internal = {
        as_str(r.props.get("name"))
        for r in args.resources
        if r.resource_type == NETWORK and is_true(r.props.get("internal"))
    }
    for resource in args.resources:
        if resource.resource_type != CONTAINER:
            continue
        if not (is_data_service(resource.props) or _runs_data_image(resource)):
            continue
        networks = [as_str(as_map(n).get("name")) for n in as_list(resource.props.get("networksAdvanced"))]
        outside = [n for n in networks if n not in internal]
        ports = as_list(resource.props.get("ports"))
        mode = as_str(resource.props.get("networkMode")).strip().lower()
        if not networks or outside or ports or mode == "host":
            where = ", ".join(outside) if outside else ("published ports" if ports else mode or "none")
            report(f"data service {resource.name!r} is reachable outside the internal network ({where})", resource.urn)


# Pack config of backups-and-monitoring: {"required": {"<URN>": "<what it is>"}}.
REQUIRED_SCHEMA = PolicyConfigSchema(
    properties={
        "required": {
            "type": "object",
            "description": "Resources (by URN) the stack must keep: the backup bucket, the backup job.",
            "additionalProperties": {"type": "string"},
        }
    }
)


def _backups_and_monitoring(args: StackValidationArgs, report: ReportViolation) -> None:
    present = {r.urn for r in args.resources}
    for urn, what in sorted(as_map(as_map(args.get_config()).get("required")).items()):
        if urn not in present:
            report(f"{environment()} has no {as_str(what) or urn} ({urn.rsplit('::', 1)[-1]})", None)
    if environment() == "development":
        return
    types = {r.resource_type for r in args.resources}
    services = {service_of(r.props) for r in args.resources if r.resource_type == CONTAINER}
    if BUCKET not in types:
        report(f"{environment()} has no backup bucket", None)
    if "prometheus" not in services:
        report(f"{environment()} has no monitoring (no Prometheus container)", None)


STACK_POLICIES: list[StackValidationPolicy | ResourceValidationPolicy] = [
    stack_policy(
        "production-redundancy",
        "Production runs at least 2 frontend and 2 backend replicas and a PostgreSQL replica.",
        _production_redundancy,
        Severity.HIGH,
        "Raise websys:frontend/backend.<color>.replicas to 2 or more and websys:postgres.replicas to 1.",
    ),
    resource_policy(
        "data-protected",
        "Volumes and buckets that hold data are protected in staging and production.",
        _data_protected,
        Severity.CRITICAL,
        "Create the resource with ResourceOptions(protect=True, retain_on_delete=True).",
    ),
    stack_policy(
        "data-services-internal",
        "PostgreSQL and Redis (known by the image they run, not only by label or name) sit only on internal "
        "networks, publish no ports and do not use the host's network.",
        _data_services_internal,
        Severity.CRITICAL,
        "Attach the container only to the stack's data network (internal=True); remove `ports`.",
    ),
    stack_policy(
        "backups-and-monitoring",
        "The stack keeps the resources its pack config requires by URN (the backup bucket and the backup job); "
        "staging and production have a backup bucket and a Prometheus.",
        _backups_and_monitoring,
        Severity.HIGH,
        "Keep the BackupStorage, BackupJob and monitoring components enabled in this stack.",
        schema=REQUIRED_SCHEMA,
    ),
]
