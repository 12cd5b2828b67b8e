"""The backend's configuration, from the environment the Pulumi program sets.

On one Docker host the secrets come as variables (DATABASE_URL=...); on Docker Swarm they come as
files, and the variable `<NAME>_FILE` holds the file's path (components/swarm/platform.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    """A missing or unreadable setting: the message names it; the process exits 2."""


def setting(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    """`name` from the environment, or the content of the file `<name>_FILE` names (one trailing
    newline removed, as `echo` and most secret tools add one). Setting both is refused: one of them
    would be silently ignored."""
    path = env.get(f"{name}_FILE")
    value = env.get(name)
    if path is not None and value is not None:
        raise ConfigError(f"both {name} and {name}_FILE are set: set one")
    if path is not None:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as error:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {error.strerror}") from None
        return text.removesuffix("\n")
    if value is not None:
        return value
    if default is not None:
        return default
    raise ConfigError(f"{name} is not set (nor {name}_FILE)")


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    jwt_secret: str
    port: int
    cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        jwt_secret = setting(env, "JWT_SECRET")
        if len(jwt_secret) < 32:
            raise ConfigError("JWT_SECRET is shorter than 32 characters")
        port_text = setting(env, "PORT", "8000")
        cache_text = setting(env, "CACHE_SECONDS", "30")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"PORT={port_text!r} is not a port number")
        if not cache_text.isdigit():
            raise ConfigError(f"CACHE_SECONDS={cache_text!r} is not a whole number of seconds")
        return cls(
            database_url=setting(env, "DATABASE_URL"),
            redis_url=setting(env, "REDIS_URL"),
            jwt_secret=jwt_secret,
            port=int(port_text),
            cache_seconds=int(cache_text),
        )
