"""What the rules share: resource types, typed readers of inputs, and the stack's environment.

The pack runs in its own virtualenv under the Pulumi engine, so it imports nothing from the program.
Inputs come from the change under review: every reader here accepts any shape and answers with a
value of the type the rule expects, so a wrong type or a null is judged, never a crash.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
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
# Data services: their containers hold the platform's state.
DATA_SERVICES = ("postgres", "redis")


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []


def as_str(value: Any) -> str:
    """A string input as the provider would send it; numbers and booleans as their text, others empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # protobuf's Struct carries every number as a double
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


def as_int(value: Any, default: int = 0) -> int:
    """An integer input (JSON numbers arrive as floats); a non-number gives `default`."""
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)) and value == value and abs(value) < 2**63:  # noqa: PLR0124 NaN
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    return default


def is_true(value: Any) -> bool:
    """A boolean input that is really true (the engine sends booleans; "true" strings are read as such)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def environment() -> str:
    """The stack being checked, as the engine passes it to the pack (PULUMI_STACK): never the plan's content.

    An unknown or missing name is treated as production, the strictest stack."""
    stack = os.environ.get("PULUMI_STACK", "")
    return stack if stack in ENVIRONMENTS else "production"


def labels(props: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in (as_map(i) for i in as_list(props.get("labels"))):
        if "label" in item:
            found[as_str(item["label"])] = as_str(item.get("value"))
    return found


def service_of(props: Mapping[str, Any]) -> str:
    """A container's service (backend, nginx, postgres, ...): its label, or read from its name.

    Only for messages and for grouping replicas: no rule exempts anything by it (exemptions.py)."""
    labelled = labels(props).get("com.websys.service")
    if labelled:
        return labelled
    name = as_str(props.get("name"))
    for service in ("nginx", "postgres", "redis", "frontend", "backend", "prometheus"):
        if f"-{service}" in name:
            return service
    return name


def is_data_service(props: Mapping[str, Any]) -> bool:
    name = as_str(props.get("name"))
    if service_of(props).endswith("exporter") or "exporter" in name:
        return False
    return any(service_of(props).startswith(data) or f"-{data}" in name for data in DATA_SERVICES)


def env_entries(props: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
    """(name, value) for each environment variable; value None when the whole entry is secret."""
    for entry in as_list(props.get("envs")):
        if entry == SECRET:
            yield "", None
            continue
        key, _, value = as_str(entry).partition("=")
        yield key, value


def is_pinned(image: str) -> bool:
    """A reference by digest (64 hex digits after `@sha256:`), or by a tag other than `latest`."""
    image = image.strip()
    if re.search(r"@sha256:[0-9a-f]{64}$", image) or re.fullmatch(r"sha256:[0-9a-f]{64}", image):
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


# --- secrets by name or by value --------------------------------------------------------------

# Words that name a secret wherever they appear in a variable's name (PGPASSWORD, DB_PASSWD, ...).
SECRET_PARTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE")
# Words that name a secret as a whole word (an APP_PASS, a SENTRY_DSN, a DB_PWD, an APIKEY).
SECRET_WORDS = frozenset({"PASS", "PWD", "DSN", "APIKEY"})
# Whole names that are identifiers, not secrets: the AWS key id is sent with every request.
NOT_SECRET_NAMES = frozenset({"AWS_ACCESS_KEY_ID", "PUBLIC_KEY"})
# A connection URL that carries a password: scheme://user:password@host.
URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@?#]*:[^/\s@?#]+@")
PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")


def is_secret_name(name: str) -> bool:
    """A variable whose name says it holds a secret (case does not matter): KEY only as the last word
    (an API_KEY is a secret, a KMS_KEY_ID names one)."""
    upper = name.strip().upper()
    if upper in NOT_SECRET_NAMES:
        return False
    if upper in {"DATABASE_URL", "REDIS_URL"}:
        return True
    words = [word for word in re.split(r"[^A-Z0-9]+", upper) if word]
    if words and words[-1] == "KEY":
        return True
    return any(part in upper for part in SECRET_PARTS) or any(word in SECRET_WORDS for word in words)


def secret_in_value(value: str) -> str | None:
    """Why a value is itself a secret whatever its variable's name (a PEM block, a URL with a password)."""
    if PEM_BLOCK.search(value):
        return "a PEM block"
    if URL_WITH_PASSWORD.search(value):
        return "a URL with user:password@"
    return None


# --- users ------------------------------------------------------------------------------------


def root_user(user: str) -> str | None:
    """Why `user` (Docker's "uid[:gid]" or "name[:group]") may run as root, or None for a non-zero uid.

    Docker reads a numeric uid with strconv (so 00 is 0) and looks a name up in the image's
    /etc/passwd, where any name may map to uid 0: only a numeric, non-zero uid is known unprivileged.
    """
    uid = user.split(":", 1)[0].strip()
    if not uid:
        return "no user is set (the image's default, often root)"
    if not uid.isascii() or not uid.isdigit():
        return f"user {user!r} is a name, which may map to uid 0 in the image; use a numeric uid:gid"
    if int(uid) == 0:
        return f"user {user!r} is uid 0 (root)"
    if uid != user.split(":", 1)[0]:
        return f"user {user!r} has spaces around the uid"
    return None


# --- host paths -------------------------------------------------------------------------------

# Sockets that hand out control of the host's container engine. Mounting one, or a directory that
# holds one (/var/run, /run, /var, /), gives the container the host.
ENGINE_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
)


def normal_path(path: str) -> str:
    """A host path as the kernel resolves it: repeated and trailing slashes, `.` and `..` removed.

    (posixpath.normpath keeps a leading `//`, which Linux treats as `/`.)"""
    collapsed = re.sub(r"/+", "/", path.strip())
    if not collapsed.startswith("/"):
        return collapsed
    return posixpath.normpath(collapsed)


def dangerous_host_path(path: str) -> str | None:
    """Why mounting host `path` gives the container the host, or None."""
    normal = normal_path(path)
    if normal == "/":
        return "the host's root filesystem /"
    for socket in ENGINE_SOCKETS:
        if normal == socket or socket.startswith(normal + "/"):
            return f"{normal} (the container engine's socket {socket})"
    # /var/run is a symlink to /run on every current distribution.
    if normal.startswith("/var/run/") and dangerous_host_path("/run/" + normal[len("/var/run/") :]):
        return f"{normal} (the container engine's socket)"
    if normal.endswith((".sock", "/docker.sock")) and "docker" in normal:
        return f"{normal} (a Docker socket)"
    return None
