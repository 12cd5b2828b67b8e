"""Look-alike of Grafana's HTTP health endpoint (not Grafana): GET [sub path]/api/health.

Like Grafana it refuses to start when a provisioning file under GF_PATHS_PROVISIONING is not valid
YAML-like text (empty or unreadable), and it serves under the path of GF_SERVER_ROOT_URL when
GF_SERVER_SERVE_FROM_SUB_PATH is true.
"""

import json
import os
import pathlib
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

provisioning = pathlib.Path(os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))
for path in sorted(provisioning.rglob("*.y*ml")):
    if not path.read_text(encoding="utf-8").strip():
        sys.exit(f"grafana look-alike: provisioning file {path} is empty")
prefix = ""
if os.environ.get("GF_SERVER_SERVE_FROM_SUB_PATH") == "true":
    prefix = urllib.parse.urlparse(os.environ.get("GF_SERVER_ROOT_URL", "")).path.rstrip("/")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == f"{prefix}/api/health":
            body, status = json.dumps({"database": "ok", "lookalike": True}).encode(), 200
        else:
            body, status = b"grafana look-alike: only /api/health\n", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(
    (
        "0.0.0.0",  # noqa: S104 a server in a container answers on every address
        3000,
    ),
    Handler,
).serve_forever()
