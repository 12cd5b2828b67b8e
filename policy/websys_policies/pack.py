"""The pack: every rule, and the entry point the engine runs."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy, PolicyPack

from . import redact
from .containers import CONTAINER_POLICIES
from .iam import IAM_POLICIES
from .isolation import ISOLATION_POLICIES
from .services import SERVICE_POLICIES
from .stack import STACK_POLICIES
from .storage import STORAGE_POLICIES
from .wellformed import WELLFORMED_POLICIES

PACK_NAME = "websys-guardrails"
POLICIES: list[Policy] = [
    *CONTAINER_POLICIES,
    *ISOLATION_POLICIES,
    *SERVICE_POLICIES,
    *STORAGE_POLICIES,
    *IAM_POLICIES,
    *STACK_POLICIES,
    *WELLFORMED_POLICIES,
]


def serve() -> None:
    """Start the Analyzer gRPC server; it prints its port and blocks, as the engine expects."""
    redact.install()
    PolicyPack(
        name=PACK_NAME,
        policies=POLICIES,
        enforcement_level=EnforcementLevel.MANDATORY,
        description="WebSys platform guardrails",
    )
