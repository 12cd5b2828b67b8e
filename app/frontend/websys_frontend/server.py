"""Serves the static page on PORT. The API's address comes from VITE_API_BASE_URL at run time (the
variable the program gives every frontend), so one image serves every stack. Every response names
the replica that served it (`X-Served-By`: its hostname, the container's name), as the backend's do."""

from __future__ import annotations

import json
import os
import socket
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STATIC = Path(__file__).with_name("static")


def runtime_config(env: dict[str, str] | os._Environ[str]) -> bytes:
    return json.dumps({"apiBaseUrl": env.get("VITE_API_BASE_URL", "/api").rstrip("/")}).encode()


class Handler(SimpleHTTPRequestHandler):
    config: bytes = b"{}"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(STATIC), **kwargs)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Served-By", socket.gethostname())
        super().end_headers()

    def do_GET(self) -> None:
        if self.path == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(port: int, env: dict[str, str] | os._Environ[str]) -> ThreadingHTTPServer:
    handler = type("ConfiguredHandler", (Handler,), {"config": runtime_config(env)})
    return ThreadingHTTPServer(("0.0.0.0", port), partial(handler))  # noqa: S104 the container's own interfaces


def main() -> int:
    port_text = os.environ.get("PORT", "3000")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        print(f"websys-frontend: PORT={port_text!r} is not a port number", file=sys.stderr)
        return 2
    make_server(int(port_text), os.environ).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
