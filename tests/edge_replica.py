"""A stand-in replica for the live nginx tests: answers every GET with the color it belongs to.

Run as `python tests/edge_replica.py HOST PORT SERVICE COLOR INDEX`; prints "ready" once listening.
It also sends headers nginx must hide or override (X-Powered-By, X-Frame-Options), and writes each
response with one send so a replica killed mid-request never half-answers.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    host, port, service, color, index = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

        def do_GET(self) -> None:
            body = json.dumps(
                {"service": service, "color": color, "replica": index, "path": self.path}, sort_keys=True
            ).encode()
            head = (
                "HTTP/1.1 200 OK\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "X-Powered-By: edge-replica\r\n"
                "X-Frame-Options: SAMEORIGIN\r\n"
                "\r\n"
            ).encode()
            self.wfile.write(head + body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
