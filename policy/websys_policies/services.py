"""Rules only Swarm services have: rolling updates that roll back, secrets as files, data services pinned."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .base import resource_policy
from .common import SERVICE, as_list, as_map, as_str, is_data_service
from .workload import workload


def _rolling_update(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE:
        return
    update = as_map(args.props.get("updateConfig"))
    order, failure = update.get("order"), update.get("failureAction")
    if is_data_service(args.props):
        # Two PostgreSQL (or Redis) tasks on one volume would corrupt it: stop the old one first.
        if order != "stop-first":
            report(f"data service {args.name!r} updates with order {order!r}; it must be stop-first", None)
        return
    if order != "start-first":
        report(f"service {args.name!r} updates with order {order!r}; start-first keeps it serving", None)
    if failure != "rollback":
        report(f"service {args.name!r}: a failed update does {failure!r}; it must roll back", None)
    if not args.props.get("rollbackConfig"):
        report(f"service {args.name!r} has no rollback config", None)


def _secrets_as_files(args: ResourceValidationArgs, report: ReportViolation) -> None:
    w = workload(args.resource_type, args.props) if args.resource_type == SERVICE else None
    if w is None:
        return
    for name, value in w.env:
        if value is None:
            report(f"service {args.name!r}: secret in environment variable {name}; mount a Docker secret", None)


def _data_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE or not is_data_service(args.props):
        return
    replicas = as_map(as_map(args.props.get("mode")).get("replicated")).get("replicas")
    placement = as_map(as_map(args.props.get("taskSpec")).get("placement"))
    constraints = [as_str(c).replace(" ", "") for c in as_list(placement.get("constraints"))]
    if replicas != 1 or placement.get("maxReplicas") != 1:
        report(f"data service {args.name!r} must run exactly one task (replicas 1, maxReplicas 1)", None)
    if not any(c.startswith("node.labels.") and c.endswith("==true") for c in constraints):
        report(f"data service {args.name!r} is not pinned to a labelled node (its volume lives there)", None)


SERVICE_POLICIES = [
    resource_policy(
        "service-rolling-update",
        "Stateless services update start-first and roll back on failure; data services stop-first.",
        _rolling_update,
        Severity.HIGH,
        'Set update_config order="start-first", failure_action="rollback" and a rollback_config '
        '(data services: order="stop-first").',
    ),
    resource_policy(
        "service-secrets-as-files",
        "Swarm services receive secrets only as Docker secrets (files), never in the environment.",
        _secrets_as_files,
        Severity.CRITICAL,
        "Create a docker.Secret, mount it in the task spec, and pass its path as NAME_FILE.",
    ),
    resource_policy(
        "service-data-pinned",
        "PostgreSQL and Redis services run one task on the labelled node that holds their volume.",
        _data_pinned,
        Severity.HIGH,
        "Add a placement constraint node.labels.websys.<role> == true, replicas 1, max_replicas 1.",
    ),
]
