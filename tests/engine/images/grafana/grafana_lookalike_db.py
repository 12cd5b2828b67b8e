"""The look-alike's stand-in for Grafana's database (not Grafana's schema): one JSON file of users.

It keeps what the admin password's life depends on: the file lives in the data directory
(GF_PATHS_DATA, /var/lib/grafana in the official image), on the volume that outlives the
container; the server creates it once, with GF_SECURITY_ADMIN_USER and GF_SECURITY_ADMIN_PASSWORD
(default admin/admin), and never again, so a changed variable does not change the password; only
`grafana cli admin reset-admin-password` does. Passwords are stored salted and hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pathlib
import secrets
from typing import Any

HOME = pathlib.Path(os.environ.get("GF_PATHS_HOME", "/usr/share/grafana"))


def path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("GF_PATHS_DATA", str(HOME / "data"))) / "grafana.db"


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10_000, 50).hex()


def _read() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path().read_text(encoding="utf-8"))
    return document


def _write(document: dict[str, Any]) -> None:
    target = path()
    scratch = target.with_name(f".{target.name}.{os.getpid()}")
    scratch.write_text(json.dumps(document), encoding="utf-8")
    scratch.chmod(0o640)
    scratch.replace(target)  # whole or not at all: the server may be reading it


def create_once() -> None:
    """At the server's first start only: the admin user from the environment."""
    if path().exists():
        return
    salt = secrets.token_hex(5)
    login = os.environ.get("GF_SECURITY_ADMIN_USER", "admin")
    password = os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "admin")
    user = {"id": 1, "login": login, "isAdmin": True, "salt": salt, "password": _hash(password, salt)}
    _write({"users": [user]})


def user(user_id: int) -> dict[str, Any] | None:
    return next((u for u in _read()["users"] if u["id"] == user_id), None)


def set_password(user_id: int, password: str) -> None:
    document = _read()
    for found in document["users"]:
        if found["id"] == user_id:
            found["password"] = _hash(password, found["salt"])
    _write(document)


def authenticate(login: str, password: str) -> dict[str, Any] | None:
    for found in _read()["users"]:
        if found["login"] == login and hmac.compare_digest(found["password"], _hash(password, found["salt"])):
            return dict(found)
    return None
