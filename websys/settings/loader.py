"""Turns the `websys` config namespace into Settings, or into one line that says what is wrong.

Under `pulumi up` every config value reaches the program as a string (objects as JSON), with
the names of the secret keys beside them; `websys plan` feeds the program the same way, so one
code path validates both.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from websys.settings.images import image_problems
from websys.settings.model import ENVIRONMENTS, SECRET_KEYS, Settings
from websys.settings.monitoring import monitoring_problems
from websys.settings.services import DOCKER_GLOBAL_POOLS
from websys.settings.swarm import swarm_problems
from websys.settings.yamlread import MAX_VALUE_BYTES, YamlInputError, load_yaml_text

NAMESPACE = "websys"


class SettingsError(pulumi.RunError):
    """Bad stack configuration. The engine prints a RunError as its message alone, no traceback."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {NAMESPACE}:{key}: {reason}")


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def decode_config_value(raw: Any) -> Any:
    """Structured config arrives as JSON text; plain values stay strings, as Pulumi gives them."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # kept as text: the model then names the key
            return raw
    return raw


def parse_settings(
    stack: str,
    config: Mapping[str, Any],
    secret_keys: Sequence[str],
    source: str | None = None,
) -> Settings:
    """Validate the `websys:*` entries of `config` (engine form) for `stack`.

    No reason ever quotes a secret: any string a secret key holds is cut out of the message."""
    source = source or stack_file_name(stack)
    try:
        return _parse(stack, config, secret_keys, source)
    except SettingsError as error:
        secrets = _secret_strings(config, secret_keys)
        reason = error.reason
        for secret in secrets:
            reason = reason.replace(secret, "[secret]")
        if reason == error.reason:
            raise
        raise SettingsError(error.source, error.key, reason) from None


def _secret_strings(config: Mapping[str, Any], secret_keys: Sequence[str]) -> list[str]:
    """The strings held by secret keys (at any depth), longest first; very short ones are left to
    describe_error, which never quotes the value of a secret key."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 4:
                found.add(value)
                found.add(repr(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for key in secret_keys:
        if key in config:
            raw = config[key]
            walk(raw)
            walk(decode_config_value(raw))
    return sorted(found, key=len, reverse=True)


def _parse(stack: str, config: Mapping[str, Any], secret_keys: Sequence[str], source: str) -> Settings:
    prefix = f"{NAMESPACE}:"
    values: dict[str, Any] = {
        key[len(prefix) :]: decode_config_value(value) for key, value in config.items() if key.startswith(prefix)
    }
    values = expand_dotted_keys(values, source)
    for key in SECRET_KEYS:
        if key in values and f"{prefix}{key}" not in secret_keys:
            raise SettingsError(
                source,
                key,
                "a secret must not be stored in plaintext; remove it from the stack file and run "
                f"`pulumi config set --secret {prefix}{key} --stack {stack}`",
            )
    # The environment is the stack's name: a production stack cannot declare itself development
    # (and get a self-signed certificate and NODE_ENV=development).
    if stack not in ENVIRONMENTS:
        raise SettingsError(source, "environment", f"the stack {stack!r} is not one of {', '.join(ENVIRONMENTS)}")
    if "environment" in values and values["environment"] != stack:
        raise SettingsError(
            source, "environment", f"is the stack's name ({stack}) and cannot be set otherwise; remove the key"
        )
    values["environment"] = stack
    if "nodeEnv" in values and values["nodeEnv"] != stack:
        raise SettingsError(
            source, "nodeEnv", f"is the stack's name ({stack}) and cannot be set otherwise; remove the key"
        )
    values["nodeEnv"] = stack
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        key, reason = describe_error(error.errors()[0], secret_keys)
        raise SettingsError(source, key, reason) from None
    check_consistency(settings, source)
    return settings


def expand_dotted_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    """`pulumi config set websys:deploy.activeColor green` (without --path) stores a key with dots
    in its name; it means the nested key, so it is merged there, its value read as YAML as `--set`
    reads it (so `replicas 3` is the number 3)."""
    result = {key: value for key, value in values.items() if "." not in key}
    for key in sorted(k for k in values if "." in k):
        value = values[key]
        if isinstance(value, str) and len(value) <= MAX_VALUE_BYTES:
            # The same strict, bounded reader as --set; what it refuses stays the string it is.
            with contextlib.suppress(YamlInputError):
                value = load_yaml_text(value)
        *parents, leaf = key.split(".")
        node = result
        for depth, part in enumerate(parents, start=1):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SettingsError(source, key, f"{'.'.join(parents[:depth])} is not a mapping")
            node = child
        node[leaf] = value
    return result


def check_consistency(settings: Settings, source: str) -> None:
    """Rules that span several keys."""
    if (settings.tls_certificate is None) != (settings.tls_private_key is None):
        missing = "tlsPrivateKey" if settings.tls_private_key is None else "tlsCertificate"
        raise SettingsError(source, missing, "tlsCertificate and tlsPrivateKey are set together, or neither")
    # --- data tier: the application role is neither the superuser nor the replication role ---
    if settings.database.user in ("postgres", settings.postgres.replication_user):
        raise SettingsError(
            source,
            "database.user",
            f"{settings.database.user!r} is reserved for the superuser or replication; choose another role name",
        )
    color = settings.active_color
    for tier_name, tier in (("frontend", settings.frontend), ("backend", settings.backend)):
        if tier.replicas(color) < 1:
            raise SettingsError(
                source,
                "deploy.activeColor",
                f"{color!r} has no {tier_name} replicas; set {tier_name}.{color}.replicas "
                "to at least 1 before switching traffic to it",
            )
    for key, reason in monitoring_problems(settings)[:1]:
        raise SettingsError(source, key, reason)
    if settings.platform == "swarm":
        subnet = ipaddress.IPv4Network(settings.data_network.subnet)
        for pool in DOCKER_GLOBAL_POOLS:
            if subnet.overlaps(pool):
                raise SettingsError(
                    source,
                    "dataNetwork.subnet",
                    f"overlaps Docker Swarm's default address pool {pool} (overlay networks); "
                    "choose one in 172.16.0.0/16",
                )
    for key, reason in image_problems(settings)[:1]:
        raise SettingsError(source, key, reason)
    tls_configured = settings.tls_certificate is not None
    for key, reason in swarm_problems(settings.environment, settings.platform, tls_configured)[:1]:
        raise SettingsError(source, key, reason)


def describe_error(error: ErrorDetails, secret_keys: Sequence[str]) -> tuple[str, str]:
    """The dotted key path and a one-line reason for the first validation error."""
    loc = [str(part) for part in error["loc"]]
    path = ".".join(loc) if loc else "(root)"
    kind = error["type"]
    if kind == "extra_forbidden":
        reason = "unknown key"
        suggestion = _closest_key(loc)
        if suggestion:
            reason += f"; did you mean {suggestion!r}?"
        return path, reason
    if kind == "missing":
        return path, "required key is missing"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    message = message[:1].lower() + message[1:]
    secret = bool(loc) and (f"{NAMESPACE}:{loc[0]}" in secret_keys or loc[0] in SECRET_KEYS)
    value = error.get("input")
    if secret:
        # The key and the reason, never the value: a validator's own message may quote its input.
        if isinstance(value, str) and value:
            message = message.replace(repr(value), "the value").replace(value, "[secret]")
        return path, " ".join(message.split())
    if kind != "value_error" and not isinstance(value, (dict, list)):
        shown = repr(value)
        message += f" (got {shown})" if len(shown) <= 80 else f" (got {shown[:60]}...)"
    return path, " ".join(message.split())


def _closest_key(loc: Sequence[str]) -> str | None:
    """The known key nearest to a misspelt one, at the same depth of the model."""
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if model is None:
            return None
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        annotation = field.annotation if field else None
        model = _model_of(annotation)
    if model is None:
        return None
    aliases = [f.alias for f in model.model_fields.values() if f.alias]
    matches = difflib.get_close_matches(loc[-1], aliases, n=1)
    return matches[0] if matches else None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def load_settings() -> Settings:
    """The program's one reader of Pulumi config: every `websys:*` key of the running stack."""
    stack = pulumi.get_stack()
    config = dict(pulumi.runtime.config.CONFIG.get())
    prefix = f"{NAMESPACE}:"
    secret_keys = [key for key in config if key.startswith(prefix) and pulumi.runtime.is_config_secret(key)]
    return parse_settings(stack, config, secret_keys)
