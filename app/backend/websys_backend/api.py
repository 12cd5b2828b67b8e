"""The WSGI application: routing, JSON, tokens and the request metrics.

Routes are served with and without the `/api` prefix: nginx passes `/api/...` unchanged when the
API shares the frontend's host, and everything from the root when the API has a host of its own.
Every response names the replica that served it (`X-Served-By`, its hostname, which the program
sets to the container's name, color included), so a color switch can be watched from outside.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
import redis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from websys_backend.metrics import Metrics
from websys_backend.store import Store

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Response = tuple[int, dict[str, Any] | bytes, str]

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large", 503: "Service Unavailable"}  # fmt: skip
_USER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_BODY = 16 * 1024
TOKEN_SECONDS = 3600


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Backend:
    def __init__(self, store: Store, jwt_secret: str) -> None:
        self.store = store
        self.jwt_secret = jwt_secret
        self.replica = socket.gethostname()
        self.metrics = Metrics(self._active_users)
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any]], Response]] = {
            ("GET", "/health"): self.health,
            ("GET", "/metrics"): self.prometheus,
            ("POST", "/session"): self.session,
            ("GET", "/notes"): self.list_notes,
            ("POST", "/notes"): self.add_note,
        }

    def _active_users(self) -> float:
        try:
            return float(self.store.active_users())
        except redis.RedisError:
            return float("nan")  # unknown, not zero: Redis is down

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        route = path.removeprefix("/api") if path.startswith("/api/") else path
        if path.startswith("/api/") and route == "/metrics":
            route = "unknown"  # the metrics stay internal: nginx passes /api/... from the internet
        handler = self.routes.get((method, route))
        body: dict[str, Any] | bytes
        if handler is None:
            known = any(route == r for _, r in self.routes)
            status, body, ctype = (405 if known else 404), {"error": "no such route"}, "application/json"
            route = route if known else "unknown"
        else:
            try:
                status, body, ctype = handler(environ)
            except HttpError as error:
                status, body, ctype = error.status, {"error": str(error)}, "application/json"
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [
                ("Content-Type", ctype),
                ("Content-Length", str(len(payload))),
                ("Cache-Control", "no-store"),
                ("X-Served-By", self.replica),
            ],
        )
        self.metrics.observe(method, route, status, time.perf_counter() - started)
        return [payload]

    # --- handlers ---
    def health(self, environ: dict[str, Any]) -> Response:
        checks = self.store.check()
        healthy = all(state == "ok" for state in checks.values())
        return (200 if healthy else 503), {"status": "ok" if healthy else "unavailable", **checks}, "application/json"

    def prometheus(self, environ: dict[str, Any]) -> Response:
        return 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST

    def session(self, environ: dict[str, Any]) -> Response:
        user = _read_json(environ).get("user")
        if not isinstance(user, str) or not _USER_RE.match(user):
            raise HttpError(400, "user: 1-64 letters, digits, '.', '_' or '-'")
        now = int(time.time())
        token = jwt.encode({"sub": user, "iat": now, "exp": now + TOKEN_SECONDS}, self.jwt_secret, algorithm="HS256")
        self.store.seen(user)
        return 201, {"token": token, "expiresIn": TOKEN_SECONDS}, "application/json"

    def list_notes(self, environ: dict[str, Any]) -> Response:
        notes, cached = self.store.latest_notes()
        return 200, {"notes": notes, "cache": "hit" if cached else "miss"}, "application/json"

    def add_note(self, environ: dict[str, Any]) -> Response:
        user = self._user(environ)
        body = _read_json(environ).get("body")
        if not isinstance(body, str) or not 1 <= len(body.strip()) <= 1000:
            raise HttpError(400, "body: 1-1000 characters of text")
        self.store.seen(user)
        return 201, self.store.add_note(user, body.strip()), "application/json"

    def _user(self, environ: dict[str, Any]) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            raise HttpError(401, "a bearer token is required (POST /api/session)")
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), self.jwt_secret, algorithms=["HS256"])
        except jwt.InvalidTokenError as error:
            raise HttpError(401, f"invalid token: {error}") from None
        return str(claims["sub"])


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length > _MAX_BODY:
        raise HttpError(413, f"request body over {_MAX_BODY} bytes")
    try:
        value = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(value, dict):
        raise HttpError(400, "the body is not a JSON object")
    return value
