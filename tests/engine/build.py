"""The builds of a plan (`docker-build:index:Image`: the project's own images in development), made on
the test engine from the repository's Dockerfiles.

STAND-IN for pulumi-docker-build, named as one: the provider embeds buildx and drives the daemon's
BuildKit (github:pulumi/pulumi-docker-build, provider/internal/image.go `Create`: it refuses a host
without BuildKit, hashes the context, builds, and reads the exporter's digest); this machine has no
buildx, so the engine's classic builder does the build (`docker build`). What is built is what the
plan says, from the inputs the provider hands its build: `context.location` and
`dockerfile.location` (relative to the project directory, where `pulumi up` runs), `buildArgs`,
`tags`, the `docker` export (the image lands in the daemon's store) and `push: false`.

Stand-in changes, and only these: `BASE_IMAGE` is the look-alike base (no registry is reachable
here, so `debian:12.12-slim` cannot be pulled), and the context of the repository's root (the
backup job's) is the files its .dockerignore lets through plus the wheels of
docker/backup-requirements.txt in docker/wheels/, downloaded on the host, as `make wheels` does on
a machine whose builds cannot reach PyPI. Everything else, Debian's packages included, comes from
the Dockerfiles as they are: their `apt-get` reaches Debian's mirror through the engine's uplink.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.engine import images
from tests.engine.daemon import Engine, EngineError

PROJECT_DIR = images.PROJECT_DIR
BUILD_TIMEOUT = 600
WHEELS_TIMEOUT = 600
BACKUP_REQUIREMENTS = PROJECT_DIR / "docker" / "backup-requirements.txt"


def wheelhouse(requirements: Path) -> Path:
    """The pinned wheels of `requirements`, downloaded on the host once per content of the file."""
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = images.CACHE_DIR / f"wheels-{key}"
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    pip = Path(os.environ.get("VIRTUAL_ENV") or PROJECT_DIR / "venv") / "bin" / "pip"
    result = subprocess.run(
        [str(pip), "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
         "-d", str(target), "-r", str(requirements)],
        capture_output=True, text=True, timeout=WHEELS_TIMEOUT, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise EngineError(f"pip download -r {requirements.name}: {result.stderr.strip()[-800:]}")
    (target / ".complete").touch()
    return target


def root_context(destination: Path) -> Path:
    """The repository's root as its .dockerignore sends it (an allow-list: `*`, then `!path`), with
    the wheels in docker/wheels/."""
    rules = (PROJECT_DIR / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if "*" not in rules:
        raise EngineError(".dockerignore: expected the allow-list form ('*', then '!path' lines)")
    for entry in (line[1:] for line in rules if line.startswith("!")):
        source = PROJECT_DIR / entry
        if source.is_dir():
            shutil.copytree(source, destination / entry, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            (destination / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / entry)
    shutil.copytree(wheelhouse(BACKUP_REQUIREMENTS), destination / "docker" / "wheels", dirs_exist_ok=True)
    return destination


def build(engine: Engine, inputs: dict[str, Any]) -> str:
    """Builds one plan's Image on the engine; returns the image id its tags point to."""
    if inputs.get("push") or [sorted(export) for export in inputs.get("exports", [])] != [["docker"]]:
        raise EngineError(f"{inputs.get('tags')}: only an unpushed build with the docker export is built here")
    base = images.base_image(engine)
    build_args = {**inputs.get("buildArgs", {}), "BASE_IMAGE": base}
    arguments = [f"--build-arg={key}={value}" for key, value in build_args.items()]
    tags = [f"--tag={tag}" for tag in inputs["tags"]]
    location = inputs["context"]["location"]
    dockerfile = PROJECT_DIR / inputs["dockerfile"]["location"]
    with tempfile.TemporaryDirectory(prefix="websys-build-") as scratch:
        context = root_context(Path(scratch) / "context") if location == "." else PROJECT_DIR / location
        iidfile = Path(scratch) / "iid"
        result = subprocess.run(
            ["docker", "build", "--quiet", f"--iidfile={iidfile}", f"--file={dockerfile}", *arguments, *tags,
             str(context)],
            env={**engine.env(), "DOCKER_BUILDKIT": "0"},
            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise EngineError(f"docker build {dockerfile.name}: {result.stderr.strip()[-1500:]}")
        return iidfile.read_text(encoding="utf-8").strip()
