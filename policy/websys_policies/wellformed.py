"""Inputs the pack cannot read at all: nested too deeply or too large to check.

The offline runner (websys/policy_client.py) and the redacting deserializer (redact.py) replace
such a value by a marker that starts with MARKER; this rule reports every marker. Under the engine,
protobuf itself refuses messages nested deeper than 100 levels, before any rule runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .base import resource_policy

MARKER = "[websys-policy: "  # e.g. "[websys-policy: nested deeper than 32 levels]"


def _markers(value: Any, path: str, found: list[str]) -> None:
    stack = [(value, path)]
    while stack and len(found) < 10:
        item, where = stack.pop()
        if isinstance(item, str) and item.startswith(MARKER):
            found.append(f"{where or '(inputs)'}: {item[len(MARKER) : -1]}")
        elif isinstance(item, Mapping):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


def _well_formed(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found: list[str] = []
    _markers(args.props, "", found)
    for finding in sorted(found):
        report(f"{args.resource_type} {args.name!r}: input {finding}", None)


WELLFORMED_POLICIES = [
    resource_policy(
        "inputs-well-formed",
        "Every resource's inputs can be read: not nested deeper than the pack reads, no value larger than it reads.",
        _well_formed,
        Severity.HIGH,
        "Inputs of this shape are never produced by the program: the plan was edited or is corrupt; record it again.",
    ),
]
