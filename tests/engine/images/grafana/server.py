"""Look-alike of Grafana's HTTP server (not Grafana): GET [sub path]/api/health and /api/user.

Like Grafana it refuses to start when a provisioning file under GF_PATHS_PROVISIONING is not valid
YAML-like text (empty or unreadable), and it serves under the path of GF_SERVER_ROOT_URL when
GF_SERVER_SERVE_FROM_SUB_PATH is true. At its first start it creates its database with the admin
user of GF_SECURITY_ADMIN_USER/GF_SECURITY_ADMIN_PASSWORD (grafana_lookalike_db.py), and never
again; GET /api/user answers the signed-in user for HTTP basic auth against that database (401
otherwise), as Grafana's does, so a password that `grafana cli admin reset-admin-password` set
is the one that signs in.
"""

import base64
import binascii
import json
import os
import pathlib
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grafana_lookalike_db as database  # type: ignore[import-not-found]  # beside this file in the image

provisioning = pathlib.Path(os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))
for path in sorted(provisioning.rglob("*.y*ml")):
    if not path.read_text(encoding="utf-8").strip():
        sys.exit(f"grafana look-alike: provisioning file {path} is empty")
prefix = ""
if os.environ.get("GF_SERVER_SERVE_FROM_SUB_PATH") == "true":
    prefix = urllib.parse.urlparse(os.environ.get("GF_SERVER_ROOT_URL", "")).path.rstrip("/")
database.create_once()


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (login, password) if sep else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        route = self.path.split("?", 1)[0]
        if route == f"{prefix}/api/health":
            body, status = {"database": "ok", "lookalike": True}, 200
        elif route == f"{prefix}/api/user":
            credentials = _basic_auth(self.headers.get("Authorization"))
            user = database.authenticate(*credentials) if credentials else None
            if user is None:
                body, status = {"message": "Invalid username or password"}, 401
            else:
                body, status = {"id": user["id"], "login": user["login"], "isGrafanaAdmin": user["isAdmin"]}, 200
        else:
            body, status = {"message": "grafana look-alike: only /api/health and /api/user"}, 404
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(
    (
        "0.0.0.0",  # noqa: S104 a server in a container answers on every address
        3000,
    ),
    Handler,
).serve_forever()
