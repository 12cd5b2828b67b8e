"""How every rule is built: its metadata, its exemptions, and a guard that turns a crash into a finding.

A rule reads inputs the change controls. Whatever their shape (a wrong type, a null, a value the
rule never expected), the pack must answer with a violation of that rule, not fail: a failing pack
stops the engine with an error that names no rule and that a reviewer may learn to retry past.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .exemptions import EXEMPTIONS_SCHEMA, Exemption, exemption
from .workload import Workload, workload

MANDATORY = EnforcementLevel.MANDATORY
ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]


def guarded(check: Callable[[Any, ReportViolation], None]) -> Callable[[Any, ReportViolation], None]:
    """`check`, reporting a violation of its own rule when the inputs make it fail."""

    @functools.wraps(check)
    def validate(args: Any, report: ReportViolation) -> None:
        try:
            check(args, report)
        except UnknownValueError:
            raise  # the SDK reports a value unknown during preview itself
        except Exception as error:  # noqa: BLE001 any shape of input must end in a finding
            what = f"{getattr(args, 'resource_type', 'stack')} {getattr(args, 'name', '')!r}".strip()
            # The error's type only: its text could quote an input value, which may be a secret.
            report(f"{what}: inputs are malformed and cannot be checked ({type(error).__name__})", None)

    return validate


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    severity: Severity,
    remediation: str,
    exemptable: bool = False,
    schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=guarded(check),
        enforcement_level=MANDATORY,
        severity=severity,
        remediation_steps=remediation,
        config_schema=EXEMPTIONS_SCHEMA if exemptable else schema,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    severity: Severity,
    remediation: str,
    schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=guarded(check),
        enforcement_level=MANDATORY,
        severity=severity,
        remediation_steps=remediation,
        config_schema=schema,
    )


def checked(args: ResourceValidationArgs) -> Workload | None:
    """The workload to check: a container or a Swarm service's task spec."""
    return workload(args.resource_type, args.props)


def exempted(args: ResourceValidationArgs) -> Exemption | None:
    """The rule's exemption for this resource's URN (never for a label or a name it sets itself)."""
    return exemption(args.get_config(), args.urn)
