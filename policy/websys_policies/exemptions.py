"""Reviewed exceptions to a rule, bound to what a change cannot forge unseen: the resource's URN.

A rule that admits exceptions reads them from its pack config (policy/config/<stack>.json):

    "container-non-root": {"exemptions": {"<URN>": {"reason": "why", "allow": [...]}}}

The URN carries the stack, the parent chain, the type and the resource name; a change that
relabels or renames what a resource *says* it is (a label, a container name) does not change it,
and a change that renames the resource itself gets a new URN, which no exemption lists. `allow`,
where a rule reads it, names the one value the exemption admits (a capability, a host path, a
port); anything else the resource does is checked as for every other resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyConfigSchema

from .common import as_list, as_map, as_str

MIN_REASON = 10

EXEMPTIONS_SCHEMA = PolicyConfigSchema(
    properties={
        "exemptions": {
            "type": "object",
            "description": "Resources (by URN) exempt from this rule, each with the reason and what it may do.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "minLength": MIN_REASON},
                    "allow": {"type": "array", "items": {"type": ["string", "number"]}},
                },
                "required": ["reason"],
            },
        }
    }
)


@dataclass(frozen=True)
class Exemption:
    reason: str
    allow: frozenset[str]


def exemption(config: Mapping[str, Any] | None, urn: str) -> Exemption | None:
    """The exemption the rule's config lists for exactly this URN, if it gives a reason."""
    entry = as_map(as_map(as_map(config).get("exemptions")).get(urn))
    reason = as_str(entry.get("reason")).strip()
    if len(reason) < MIN_REASON:
        return None
    return Exemption(reason=reason, allow=frozenset(as_str(item).strip() for item in as_list(entry.get("allow"))))


def allowed(config: Mapping[str, Any] | None, urn: str) -> frozenset[str]:
    """What the exemption for `urn` admits (empty when there is none)."""
    found = exemption(config, urn)
    return found.allow if found else frozenset()
