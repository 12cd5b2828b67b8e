"""The recorded plan and its JSON form (the `websys plan --json` contract)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.rpc import UNKNOWN as _UNKNOWN
from pulumi.runtime.rpc import (
    _special_archive_sig,
    _special_asset_sig,
    _special_output_value_sig,
    _special_resource_sig,
    _special_secret_sig,
    _special_sig_key,
)

SECRET = "[secret]"  # noqa: S105 the redaction marker, not a password
UNKNOWN = "[unknown]"
# Keys the in-memory fingerprints of secret inputs. Made anew in every process and never written:
# two plans recorded in one process can tell that a secret changed, no plan file says anything
# about a secret's value, and no fingerprint can be recomputed from a guess elsewhere.
_FINGERPRINT_KEY = secrets.token_bytes(32)


def plain_value(value: Any) -> Any:  # noqa: PLR0911 one return per kind of value
    """A protobuf Struct/Value (or what MessageToDict made of it) as plain JSON data, secrets redacted."""
    if isinstance(value, (struct_pb2.Struct, struct_pb2.Value)):
        value = json_format.MessageToDict(value)
    if isinstance(value, dict):
        signature = value.get(_special_sig_key)
        if signature == _special_secret_sig:
            return SECRET
        if signature == _special_output_value_sig:
            if value.get("secret"):
                return SECRET
            return plain_value(value["value"]) if "value" in value else UNKNOWN
        if signature == _special_resource_sig:
            return value.get("urn", "")
        if signature in (_special_asset_sig, _special_archive_sig):
            return {k: plain_value(v) for k, v in sorted(value.items()) if k != _special_sig_key}
        return {key: plain_value(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [plain_value(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf numbers are doubles; 3.0 replicas read better as 3
    if value == _UNKNOWN:
        return UNKNOWN
    return value


def secret_fingerprints(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(input path, keyed fingerprint) of every secret value inside a request's object."""
    if isinstance(value, (struct_pb2.Struct, struct_pb2.Value)):
        value = json_format.MessageToDict(value)
    if isinstance(value, dict):
        signature = value.get(_special_sig_key)
        if signature == _special_secret_sig or (signature == _special_output_value_sig and value.get("secret")):
            text = json.dumps(value.get("value"), sort_keys=True)
            yield path, hmac.new(_FINGERPRINT_KEY, text.encode(), hashlib.sha256).hexdigest()
            return
        if signature == _special_output_value_sig:
            yield from secret_fingerprints(value.get("value"), path)
            return
        for key, item in sorted(value.items()):
            yield from secret_fingerprints(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_fingerprints(item, f"{path}[{index}]")


@dataclass(frozen=True)
class ResourceOptions:
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    # The engine's tri-state: set (true or false) by the program overrides the provider's choice.
    delete_before_replace_defined: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "deleteBeforeReplace": self.delete_before_replace,
            "deleteBeforeReplaceDefined": self.delete_before_replace_defined,
            "ignoreChanges": self.ignore_changes,
            "replaceOnChanges": self.replace_on_changes,
            "additionalSecretOutputs": self.additional_secret_outputs,
        }


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    options: ResourceOptions
    # In memory only (never in the JSON form): which secret inputs differ between two plans.
    secret_fingerprints: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_request(cls, request: Any, make_urn: Callable[[str, str, str], str]) -> PlannedResource:
        inputs = plain_value(request.object) if request.HasField("object") else {}
        return cls(
            urn=make_urn(request.parent, request.type, request.name),
            type=request.type,
            name=request.name,
            parent=request.parent,
            # A provider reference is "<urn>::<id>"; the id is the engine's, the URN is ours.
            provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
            dependencies=sorted(set(request.dependencies)),
            inputs=inputs if isinstance(inputs, dict) else {},
            options=ResourceOptions(
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                delete_before_replace_defined=bool(request.deleteBeforeReplaceDefined),
                ignore_changes=sorted(request.ignoreChanges),
                replace_on_changes=sorted(request.replaceOnChanges),
                additional_secret_outputs=sorted(request.additionalSecretOutputs),
            ),
            secret_fingerprints=dict(secret_fingerprints(request.object)) if request.HasField("object") else {},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "dependencies": self.dependencies,
            "inputs": self.inputs,
            "options": self.options.to_json(),
        }


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    diagnostics: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [resource.to_json() for resource in self.resources],
            "outputs": self.outputs,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def by_name(self, name: str) -> PlannedResource:
        matches = [resource for resource in self.resources if resource.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources are named {name!r}")
        return matches[0]

    def children(self, parent_urn: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.parent == parent_urn]
