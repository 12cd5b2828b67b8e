"""The Docker Engine API over its unix socket: the calls the Go client of the provider makes."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any

API_VERSION = "v1.41"  # Docker 20.10's API; every call used here exists there


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerApi:
    def __init__(self, host: str) -> None:
        if not host.startswith("unix://"):
            raise ValueError(f"the engine tests speak to a unix socket, not {host}")
        self.socket_path = host.removeprefix("unix://")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 120,
    ) -> Any:
        url = f"/{API_VERSION}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        connection = _UnixConnection(self.socket_path, timeout)
        try:
            headers = {"Content-Type": content_type} if data is not None else {}
            connection.request(method, url, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            try:
                message = json.loads(payload).get("message", "")
            except ValueError:
                message = payload.decode(errors="replace")
            raise ApiError(response.status, method, path, message)
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return payload.decode(errors="replace")
