"""Reads a Pulumi stack file and applies `--set`/`--secret` overrides, giving config in engine form.

Encrypted values (`secure: v1:...`) cannot be read without the stack's passphrase; a recorded plan
only needs to know that they are set and secret, so they become a fixed placeholder marked secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from websys.settings.loader import NAMESPACE

SECURE_PLACEHOLDER = "encrypted-in-stack-file"


class StackFileError(Exception):
    """One line naming the file (or flag), the key and the reason."""


@dataclass
class StackConfig:
    source: str  # the name used in error messages, e.g. Pulumi.production.yaml
    values: dict[str, Any] = field(default_factory=dict)  # full key ("websys:backend") -> value
    secret_keys: set[str] = field(default_factory=set)

    def engine_form(self) -> dict[str, str]:
        """What the Pulumi engine hands a program: strings, with structured values as JSON."""
        return {key: _engine_value(value) for key, value in sorted(self.values.items())}


def _engine_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or value is None:
        return json.dumps(value)
    return json.dumps(value, sort_keys=True)


def read_stack_file(path: Path) -> StackConfig:
    name = path.name
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StackFileError(f"{name}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise StackFileError(f"{name}: not valid YAML{where}: {problem}") from None
    document = document or {}
    if not isinstance(document, dict):
        raise StackFileError(f"{name}: the stack file must be a mapping with a 'config' key")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{name}: config: must be a mapping of keys to values")
    stack = StackConfig(source=name)
    for key, value in config.items():
        full_key = str(key)
        if ":" not in full_key:
            raise StackFileError(f"{name}: {full_key}: config keys need a namespace, e.g. {NAMESPACE}:{full_key}")
        stack.values[full_key], secret = _strip_secure(value)
        if secret:
            stack.secret_keys.add(full_key)
    return stack


def _strip_secure(value: Any) -> tuple[Any, bool]:
    """Replace every `{secure: ...}` by the placeholder; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECURE_PLACEHOLDER, True
        found = False
        result: dict[str, Any] = {}
        for key, item in value.items():
            result[str(key)], secret = _strip_secure(item)
            found = found or secret
        return result, found
    if isinstance(value, list):
        items = [_strip_secure(item) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def apply_override(stack: StackConfig, assignment: str, *, secret: bool, flag: str) -> None:
    """Apply `K=V` (K a dotted path in the websys namespace unless it names one; V parsed as YAML)."""
    key_path, sep, raw_value = assignment.partition("=")
    if not sep or not key_path:
        raise StackFileError(f"{flag} {assignment}: expected KEY=VALUE, e.g. backend.blue.replicas=3")
    if secret:
        value: Any = raw_value  # secrets are strings; never parsed, never echoed
    else:
        try:
            value = yaml.safe_load(raw_value)
        except yaml.YAMLError:
            raise StackFileError(f"{flag} {key_path}: the value is not valid YAML") from None
    namespace, colon, path = key_path.partition(":")
    if not colon:
        namespace, path = NAMESPACE, key_path
    parts = path.split(".")
    if not all(parts):
        raise StackFileError(f"{flag} {key_path}: empty segment in the key path")
    top = f"{namespace}:{parts[0]}"
    if len(parts) == 1:
        stack.values[top] = value
    else:
        container = stack.values.setdefault(top, {})
        for depth, part in enumerate(parts[1:-1], start=1):
            if not isinstance(container, dict):
                raise StackFileError(f"{flag} {key_path}: {'.'.join(parts[:depth])} is not a mapping")
            container = container.setdefault(part, {})
        if not isinstance(container, dict):
            raise StackFileError(f"{flag} {key_path}: {'.'.join(parts[:-1])} is not a mapping")
        container[parts[-1]] = value
    if secret:
        stack.secret_keys.add(top)
