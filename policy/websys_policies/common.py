"""What the rules share: resource types, how to read a container's inputs, and the stack's environment.

The pack runs in its own virtualenv under the Pulumi engine, so it imports nothing from the program.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

CONTAINER = "docker:index/container:Container"
SERVICE = "docker:index/service:Service"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
BUCKET = "aws:s3/bucket:Bucket"

# Secrets reach the rules as this marker, never as their value (see redact.py).
SECRET = "[secret]"  # noqa: S105 the redaction marker, not a password
ENVIRONMENTS = ("development", "staging", "production")
SECRET_WORDS = frozenset({"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS"})
SECRET_NAMES = frozenset({"DATABASE_URL", "REDIS_URL"})
# Data services: their containers hold the platform's state.
DATA_SERVICES = ("postgres", "redis")


def is_secret_name(name: str) -> bool:
    """PASSWORD, SECRET, TOKEN or CREDENTIAL anywhere, KEY as the last word (an AWS_ACCESS_KEY_ID is an
    identifier, an API_KEY is not), or a connection URL that embeds a password."""
    upper = name.upper()
    words = re.split(r"[^A-Z0-9]+", upper)
    return upper in SECRET_NAMES or bool(SECRET_WORDS & set(words)) or words[-1] == "KEY"


def environment() -> str:
    """The stack being checked; the engine passes it to the pack as PULUMI_STACK."""
    stack = os.environ.get("PULUMI_STACK", "")
    return stack if stack in ENVIRONMENTS else "development"


def labels(props: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in props.get("labels") or []:
        if isinstance(item, Mapping) and "label" in item:
            found[str(item["label"])] = str(item.get("value", ""))
    return found


def service_of(props: Mapping[str, Any]) -> str:
    """A container's service (backend, nginx, postgres, ...): its label, or read from its name."""
    labelled = labels(props).get("com.websys.service")
    if labelled:
        return labelled
    name = str(props.get("name", ""))
    for service in ("nginx", "postgres", "redis", "frontend", "backend", "prometheus"):
        if f"-{service}" in name:
            return service
    return name


def is_data_service(props: Mapping[str, Any]) -> bool:
    name = str(props.get("name", ""))
    if service_of(props).endswith("exporter") or "exporter" in name:
        return False
    return any(service_of(props).startswith(data) or f"-{data}" in name for data in DATA_SERVICES)


def env_entries(props: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
    """(name, value) for each environment variable; value None when the whole entry is secret."""
    for entry in props.get("envs") or []:
        text = str(entry)
        if text == SECRET:
            yield "", None
            continue
        key, _, value = text.partition("=")
        yield key, value


def is_pinned(image: str) -> bool:
    """A reference by digest (64 hex digits), or by a tag other than `latest`."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image) or re.fullmatch(r"sha256:[0-9a-f]{64}", image):
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")
