"""How rendered configuration reaches a running service without replacing its container: staged
next to its target, checked by the service's own tool, then applied by a reload.

`push-config.sh` stages the files and runs the service's apply script where the service runs
(`nginx-apply.sh`: `nginx -t`, then reload; `prometheus-apply.sh`: `promtool check config`, then
SIGHUP). The same scripts serve `pulumi up` (through `docker exec`) and the live tests.

`grafana-admin-password.sh` is not a file push: it sets Grafana's admin password in its database
with Grafana's own CLI (GF_SECURITY_ADMIN_PASSWORD only counts when the database is created).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Generic, TypeVar

PUSH_SCRIPT = "push-config.sh"
NGINX_APPLY_SCRIPT = "nginx-apply.sh"
PROMETHEUS_APPLY_SCRIPT = "prometheus-apply.sh"
GRAFANA_ADMIN_SCRIPT = "grafana-admin-password.sh"

T = TypeVar("T")


def script_text(name: str) -> str:
    """The text of one of this package's shell scripts."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class PushedFile(Generic[T]):
    """One file of a push: the environment variable that carries its text, where it goes, its mode.
    `content` is a plain string or (in the program) a Pulumi Input, possibly secret."""

    variable: str
    path: str
    content: T
    mode: str = "644"


def push_environment(
    service: str,
    exec_prefix: str,
    apply_script: str,
    pushed: Sequence[PushedFile[T]],
    refuse: str = "",
) -> dict[str, str | T]:
    """The environment push-config.sh runs with; the first file is the service's main configuration.
    `refuse`, when not empty, is why the push must not run (it prints it and changes nothing)."""
    environment: dict[str, str | T] = {
        "WEBSYS_SERVICE": service,
        "WEBSYS_EXEC": exec_prefix,
        "WEBSYS_APPLY": script_text(apply_script),
        "WEBSYS_FILES": "\n".join(f"{file.variable} {file.mode} {file.path}" for file in pushed),
    }
    for file in pushed:
        environment[file.variable] = file.content
    if refuse:
        environment["WEBSYS_REFUSE"] = refuse
    return environment


def grafana_password_environment(exec_prefix: str, health_url: str, password: T) -> dict[str, str | T]:
    """The environment grafana-admin-password.sh runs with; `password` is secret in the program."""
    return {
        "WEBSYS_EXEC": exec_prefix,
        "WEBSYS_GRAFANA_HEALTH_URL": health_url,
        "WEBSYS_GRAFANA_ADMIN_PASSWORD": password,
    }
