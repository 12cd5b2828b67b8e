"""Validated scalar types shared by every section of the settings model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from websys.settings.text import fullmatch, password_problem, sql_name_problem, ssh_option_problem, url_path_problem

# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest].
_IMAGE_RE = re.compile(
    r"^(?P<name>(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?"
)
# Every pattern here is applied with fullmatch (a `$` would let a trailing newline through).
_HOSTNAME_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_SIZE_RE = re.compile(r"[1-9][0-9]*[kmg]")
# The docker CLI's -H forms; the remote user and host are the characters ssh(1) and Docker accept,
# so the value is one word wherever it is passed (DOCKER_HOST, `docker -H`).
_DOCKER_HOST_RE = re.compile(
    r"unix:///[A-Za-z0-9._/-]+|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?|tcp://[A-Za-z0-9.-]+:[0-9]{1,5}"
)


def _image_reference(value: str) -> str:
    match = _IMAGE_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a Docker image reference")
    tag, digest = match.group("tag"), match.group("digest")
    if digest is None and tag is None:
        raise ValueError(f"{value!r} is not pinned: add a version tag or an @sha256 digest")
    if digest is None and tag == "latest":
        raise ValueError(f"{value!r} uses 'latest': pin a version tag or an @sha256 digest")
    return value


def _domain_name(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or not all(fullmatch(_HOSTNAME_LABEL, label) for label in labels):
        raise ValueError(f"{value!r} is not a valid domain name")
    if len(labels) == 1 and value != "localhost":
        raise ValueError(f"{value!r} is not a fully qualified domain name (or 'localhost')")
    return value


def _log_size(value: str) -> str:
    if not fullmatch(_SIZE_RE, value):
        raise ValueError(f"{value!r} is not a size like '10m' (a number followed by k, m or g)")
    return value


def _docker_host(value: str) -> str:
    if not fullmatch(_DOCKER_HOST_RE, value):
        raise ValueError(f"{value!r} is not a Docker host: use unix:///path, ssh://user@host[:port] or tcp://host:port")
    return value


def _url_path(value: str) -> str:
    problem = url_path_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _sql_name(value: str) -> str:
    problem = sql_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _password(value: SecretStr) -> SecretStr:
    problem = password_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(problem)
    return value


# Grafana refuses a password of 4 characters or fewer ("new password is too short": grafana/grafana
# pkg/services/user/model.go `Password.IsWeak`), so the reset of a rotated one would fail.
GRAFANA_PASSWORD_MIN_LENGTH = 5


def _grafana_password(value: SecretStr) -> SecretStr:
    _password(value)
    if len(value.get_secret_value()) < GRAFANA_PASSWORD_MIN_LENGTH:
        raise ValueError(f"must be at least {GRAFANA_PASSWORD_MIN_LENGTH} characters (Grafana refuses shorter ones)")
    return value


def _ssh_option(value: str) -> str:
    problem = ssh_option_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


ImageReference = Annotated[str, AfterValidator(_image_reference)]
SshOption = Annotated[str, AfterValidator(_ssh_option)]
Password = Annotated[SecretStr, AfterValidator(_password)]
GrafanaPassword = Annotated[SecretStr, AfterValidator(_grafana_password)]
SqlName = Annotated[str, AfterValidator(_sql_name)]
DomainName = Annotated[str, AfterValidator(_domain_name)]
LogSize = Annotated[str, AfterValidator(_log_size)]
DockerHost = Annotated[str, AfterValidator(_docker_host)]
UrlPath = Annotated[str, AfterValidator(_url_path)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Section(BaseModel):
    """Base of every settings section: camelCase keys, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        frozen=True,
        strict=True,
    )
