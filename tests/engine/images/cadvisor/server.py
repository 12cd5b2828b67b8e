"""Look-alike of cAdvisor's HTTP interface (not cAdvisor): /healthz, and /metrics with a count."""

import argparse
import pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=8080)
options, _ = parser.parse_known_args()


def container_count() -> int:
    docker = pathlib.Path("/sys/fs/cgroup/memory/docker")
    return sum(1 for path in docker.iterdir() if path.is_dir()) if docker.is_dir() else 0


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body, status = b"ok", 200
        elif self.path == "/metrics":
            body, status = f"cadvisor_lookalike_containers {container_count()}\n".encode(), 200
        else:
            body, status = b"not found\n", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(
    (
        "0.0.0.0",  # noqa: S104 a server in a container answers on every address
        options.port,
    ),
    Handler,
).serve_forever()
