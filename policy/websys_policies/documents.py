"""Reading AWS policy documents (bucket policies, IAM policies) as AWS reads them, from any shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .common import as_list, as_map, as_str

MAX_DOCUMENT = 1024 * 1024  # larger than any AWS policy (20 KB for a bucket policy)


def document(value: Any) -> Mapping[str, Any] | None:
    """A policy document from a JSON string (or an object); None when it is not one."""
    if isinstance(value, Mapping):
        return value
    text = as_str(value)
    if not text or len(text) > MAX_DOCUMENT:
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, Mapping) else None


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document's statements: one object or a list of them; anything else is not a statement."""
    found = doc.get("Statement")
    items = [found] if isinstance(found, Mapping) else as_list(found)
    return [as_map(item) for item in items]


def well_formed(doc: Mapping[str, Any]) -> bool:
    """Statement is an object or a non-empty list of objects, as AWS requires."""
    found = doc.get("Statement")
    if isinstance(found, Mapping):
        return True
    items = as_list(found)
    return bool(items) and all(isinstance(item, Mapping) for item in items)


def values(value: Any) -> list[str]:
    """A policy element that AWS accepts as a string or a list of strings."""
    if isinstance(value, str):
        return [value]
    return [as_str(item) for item in as_list(value)]


def allows(statement: Mapping[str, Any]) -> bool:
    """AWS grants only "Allow"; the pack treats anything but an exact "Deny" as a grant (fail closed)."""
    return statement.get("Effect") != "Deny"


def is_public_principal(principal: Any) -> bool:
    """ "*", {"AWS": "*"}, {"AWS": ["*", ...]}, ["*"], or any principal value with a wildcard."""
    if isinstance(principal, Mapping):
        return any(is_public_principal(item) for item in principal.values())
    return any("*" in item for item in values(principal)) or (principal is not None and not values(principal))
