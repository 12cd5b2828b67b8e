"""A Docker Engine for the image tests, with a local Debian base, images built from the repository's
Dockerfiles as the plan's build resources say, and containers created from the plan's inputs.

Stand-ins, named as such:
- The builds use the engine's classic builder through its API (`POST /build`): this machine has no
  buildx, which pulumi-docker-build embeds to drive BuildKit. The inputs used are the ones
  pulumi-docker-build's Image hands to its build (provider/internal/image.go): context.location,
  dockerfile.location, buildArgs and tags, with the docker export (the image lands in the daemon).
- Containers are created through the Engine API with the inputs pulumi-docker's Container passes
  to it (user, read-only root, tmpfs, capabilities, security options, memory, healthcheck in exec
  form, labels, log options, networks with aliases), the way its create does
  (terraform-provider-docker, resource_docker_container_funcs.go: resourceDockerContainerCreate).
- PostgreSQL, Redis, nginx and the S3 emulator are look-alikes of their official images built here
  from Debian's packages (no registry is reachable); only the project's own images are the real ones.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from websys.plan import PROJECT_DIR, PlannedResource

# The Docker SDK (docker-py), untyped; imported by name because mypy would take the repository's
# docker/ folder (Dockerfiles) for the package.
docker: Any = importlib.import_module("docker")

BASE_TAG = "websys-test/bookworm:base"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "websys-tests"
ADDRESS_POOL = "10.213.0.0/16"  # this engine's own bridges, apart from any other engine's


class Engine:
    """dockerd on its own socket and data root, stopped and removed by `close`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wsys-eng-", dir="/tmp"))  # short: a unix socket path
        self.host = f"unix://{self.root}/docker.sock"
        self.log = (self.root / "dockerd.log").open("w")
        self.process = subprocess.Popen(
            [
                shutil.which("dockerd") or "/usr/sbin/dockerd",
                f"--host={self.host}",
                f"--data-root={self.root}/data",
                f"--exec-root={self.root}/exec",
                f"--pidfile={self.root}/docker.pid",
                "--bridge=none",  # no docker0: another engine on this machine may have it
                f"--default-address-pool=base={ADDRESS_POOL},size=24",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(Exception):
                self.client = docker.DockerClient(base_url=self.host, timeout=600)
                self.client.ping()
                break
            if time.monotonic() > deadline or self.process.poll() is not None:
                log = (self.root / "dockerd.log").read_text()[-2000:]
                self.close()
                raise RuntimeError(f"dockerd did not start: {log}")
            time.sleep(0.5)
        # The classic builder's RUN steps need a network with a route out (to Debian's mirror).
        self.build_network = self.client.networks.create("websys-test-build", driver="bridge").name

    def close(self) -> None:
        with contextlib.suppress(AttributeError, docker.errors.DockerException):
            for container in self.client.containers.list(all=True):
                container.remove(force=True)
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        subprocess.run(["umount", "-R", "-l", str(self.root)], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def build(self, context: Path, dockerfile: Path, tag: str, build_args: Mapping[str, str] | None = None) -> str:
        """Builds and tags an image; returns its id. Errors carry the build's last lines."""
        relative = os.path.relpath(dockerfile, context)
        try:
            image, _ = self.client.images.build(
                path=str(context),
                dockerfile=relative,
                tag=tag,
                buildargs=dict(build_args or {}),
                network_mode=self.build_network,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as error:
            tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in error.build_log)[-3000:]
            raise RuntimeError(f"build of {tag} failed: {error.msg}\n{tail}") from None
        return str(image.id)


def base_image(engine: Engine) -> str:
    """Debian bookworm (minbase) from Debian's mirror by mmdebstrap, imported; the tarball is cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / "bookworm-minbase.tar"
    if not tarball.exists():
        partial = tarball.with_name("bookworm-minbase.partial.tar")  # mmdebstrap reads the format from the name
        subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase", "--include=ca-certificates", "bookworm", str(partial)],
            check=True, capture_output=True, timeout=1200,
        )  # fmt: skip
        partial.rename(tarball)
    with tarball.open("rb") as data:
        engine.client.api.import_image_from_data(data, repository="websys-test/bookworm", tag="base")
    return BASE_TAG


def wheelhouse(requirements: Path) -> Path:
    """The pinned wheels of `requirements`, downloaded here (a fresh image cannot reach PyPI)."""
    target = CACHE / f"wheels-{requirements.stem}"
    target.mkdir(parents=True, exist_ok=True)
    pip = Path(os.environ.get("VIRTUAL_ENV", PROJECT_DIR / "venv")) / "bin" / "pip"
    subprocess.run(
        [str(pip), "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
         "-d", str(target), "-r", str(requirements)],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return target


def context_copy(context: Path, destination: Path, wheels: Path | None) -> Path:
    """The files of `context` its .dockerignore lets through (an allow-list: `*`, then `!path`), plus
    `docker/wheels/` when given: what a build on a machine without PyPI sends (make wheels)."""
    ignore = (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    assert "*" in ignore, "the allow-list form this copy understands"
    for entry in allowed:
        source = context / entry
        if source.is_dir():
            shutil.copytree(source, destination / entry, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            (destination / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / entry)
    if wheels is not None:
        shutil.copytree(wheels, destination / "docker" / "wheels")
    return destination


def build_from_plan(engine: Engine, build: PlannedResource, context: Path, base: str) -> str:
    """The plan's docker-build Image, built with the plan's own inputs on the local base."""
    inputs = build.inputs
    assert inputs["push"] is False
    assert [list(export) for export in inputs["exports"]] == [["docker"]]
    build_args = {**inputs.get("buildArgs", {}), "BASE_IMAGE": base}
    tag = inputs["tags"][0]
    image_id = engine.build(context, PROJECT_DIR / inputs["dockerfile"]["location"], tag, build_args)
    for extra in inputs["tags"][1:]:
        engine.client.images.get(image_id).tag(extra)
    return image_id


LOOKALIKES: dict[str, str] = {
    # postgres: the official image's interface (POSTGRES_USER is the superuser, POSTGRES_DB its database;
    # UTF8, as the official image's initdb: under SQL_ASCII a client receives text as bytes).
    "postgres": """
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
RUN printf '%s\\n' '#!/bin/sh' 'set -e' 'export PATH=/usr/lib/postgresql/15/bin:$PATH' \\
  'if [ ! -s "$PGDATA/PG_VERSION" ]; then' \\
  '  printf "%s" "$POSTGRES_PASSWORD" > /tmp/pw' \\
  '  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pw -E UTF8 --locale=C.UTF-8 \\
       --auth-local=trust --auth-host=scram-sha-256' \\
  '  rm /tmp/pw; echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"' \\
  '  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses= -k /tmp" start' \\
  '  psql -h /tmp -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \\"$POSTGRES_DB\\""' \\
  '  pg_ctl -D "$PGDATA" -w stop' \\
  'fi' 'exec postgres -D "$PGDATA" -c listen_addresses=* -k /tmp' > /entrypoint.sh && chmod 755 /entrypoint.sh
USER postgres
ENV PGDATA=/var/lib/postgresql/data
CMD ["/entrypoint.sh"]
""",
    "redis": """
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
USER redis
CMD ["sh", "-c", "exec redis-server --bind 0.0.0.0 --protected-mode no --save '' --requirepass \\"$REDIS_PASSWORD\\""]
""",
    # nginx: the official image's user `nginx` and paths (/etc/nginx/nginx.conf, /var/log/nginx).
    "nginx": """
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light wget && rm -rf /var/lib/apt/lists/* \\
  && useradd --system --no-create-home --shell /usr/sbin/nologin nginx \\
  && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
""",
    # moto's server on 5000, as motoserver/moto runs it.
    "moto": """
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
COPY wheels /wheels
RUN python3 -m venv /opt/moto && /opt/moto/bin/pip install --no-index --find-links /wheels "moto[server]" \\
  && rm -rf /wheels
ENV PATH=/opt/moto/bin:$PATH
CMD ["/opt/moto/bin/moto_server", "-H", "0.0.0.0", "-p", "5000"]
""",
}


def lookalike(engine: Engine, name: str, base: str, files: Mapping[str, Path] | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="wsys-la-") as directory:
        context = Path(directory)
        (context / "Dockerfile").write_text(LOOKALIKES[name].format(base=base), encoding="utf-8")
        for target, source in (files or {}).items():
            shutil.copytree(source, context / target)
        return engine.build(context, context / "Dockerfile", f"websys-test/{name}:lookalike")


def _seconds(value: str) -> int:
    assert value.endswith("s"), value
    return int(value[:-1]) * 1_000_000_000


def create_from_plan(
    engine: Engine,
    container: PlannedResource,
    image: str,
    envs: Sequence[str],
    ports: Mapping[str, tuple[str, int]] | None = None,
    network_names: Mapping[str, str] | None = None,
    uploads: Mapping[str, bytes] | None = None,
) -> Any:
    """Creates and starts the plan's container; `envs` replaces the plan's (whose secrets are redacted)."""
    inputs = container.inputs
    capabilities = inputs.get("capabilities", {})
    check = inputs.get("healthcheck")
    networks = [dict(n) for n in inputs.get("networksAdvanced", [])]
    names = network_names or {}
    host_config = engine.client.api.create_host_config(
        read_only=bool(inputs.get("readOnly", False)),
        tmpfs=dict(inputs.get("tmpfs", {})),
        cap_drop=capabilities.get("drops"),
        cap_add=capabilities.get("adds"),
        security_opt=inputs.get("securityOpts"),
        mem_limit=f"{inputs['memory']}m" if "memory" in inputs else None,
        memswap_limit=f"{inputs['memorySwap']}m" if "memorySwap" in inputs else None,
        restart_policy={"Name": inputs["restart"]} if "restart" in inputs else None,
        log_config={"Type": inputs.get("logDriver", "json-file"), "Config": inputs.get("logOpts", {})},
        port_bindings={int(p.split("/")[0]): binding for p, binding in (ports or {}).items()},
        binds=None,
    )
    first = networks[0]
    networking = engine.client.api.create_networking_config(
        {
            names.get(first["name"], first["name"]): engine.client.api.create_endpoint_config(
                aliases=first.get("aliases")
            )
        }
    )
    created = engine.client.api.create_container(
        image=image,
        name=inputs["name"],
        hostname=inputs.get("hostname"),
        user=inputs.get("user", ""),
        command=inputs.get("command"),
        environment=list(envs),
        labels={label["label"]: label["value"] for label in inputs.get("labels", [])},
        ports=[int(p.split("/")[0]) for p in (ports or {})],
        healthcheck=None
        if check is None
        else {
            "Test": check["tests"],
            "Interval": _seconds(check["interval"]),
            "Timeout": _seconds(check["timeout"]),
            "Retries": check["retries"],
            "StartPeriod": _seconds(check["startPeriod"]),
        },
        host_config=host_config,
        networking_config=networking,
    )
    for network in networks[1:]:
        engine.client.api.connect_container_to_network(
            created["Id"], names.get(network["name"], network["name"]), aliases=network.get("aliases")
        )
    if uploads:  # as the provider does: files into the created container, before it starts
        engine.client.api.put_archive(created["Id"], "/", _tar(uploads))
    engine.client.api.start(created["Id"])
    return engine.client.containers.get(created["Id"])


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def wait_healthy(container: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        health = state.get("Health", {}).get("Status")
        if health == "healthy":
            return
        if state["Status"] == "exited":
            break
        time.sleep(1)
    logs = container.logs(tail=30).decode(errors="replace")
    raise AssertionError(f"{container.name} is {state['Status']}/{health}: {logs}\n{state.get('Health')}")


@contextlib.contextmanager
def running_engine() -> Iterator[Engine]:
    engine = Engine()
    try:
        yield engine
    finally:
        engine.close()
