"""Secrets reach the rules as the marker "[secret]", never as their value.

The policy SDK unwraps secret inputs to plain values before a rule sees them, so a rule could not
tell a secret environment variable from a plaintext one, and a violation message could echo a
secret. The pack replaces the SDK's deserializer with one that turns every secret into the marker
first: the rules then see what `websys plan` records, under the engine and offline alike.
"""

from __future__ import annotations

from typing import Any

import pulumi_policy.policy as sdk
from pulumi_policy.deserialize import deserialize_properties

from .common import SECRET
from .wellformed import MARKER

_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 the wire signature of a secret


# Deeper inputs become a marker that the inputs-well-formed rule reports (protobuf already refuses
# messages nested deeper than 100 levels, so real inputs never reach this depth).
MAX_DEPTH = 48
TOO_DEEP = f"{MARKER}nested deeper than {MAX_DEPTH} levels]"


def redact(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET
        return {key: redact(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, depth + 1) for item in value]
    return value


def _redacting_deserialize(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = deserialize_properties(redact(props), proxy_secrets)
    return result


def install() -> None:
    """Make the SDK's analyzer deserialize through `redact`."""
    vars(sdk)["deserialize_properties"] = _redacting_deserialize
