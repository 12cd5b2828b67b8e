"""Look-alike images of the official images the plans name, built here (no registry is reachable).

One base layer holds every Debian package the look-alikes need (tests/engine/images/base/
packages.txt), made on the host by `mmdebstrap | docker import`; each service's image on top of it
only adds the official image's users, uids, paths and an entrypoint written here for the official
image's documented interface. No upstream image code is copied. Every image is labelled
`com.websys.lookalike=<the official image it stands for>`.

Images are cached by a content hash: the base by its package list and mirror, each service image
by the base's hash and its directory's files. A tag that exists is not rebuilt; the base's root
filesystem is kept as a tar under ~/.cache/websys-engine, so a new daemon imports it instead of
running mmdebstrap again. A lock serialises builders of one hash across concurrent test runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.engine.daemon import Engine, EngineError

IMAGES_DIR = Path(__file__).parent / "images"
PROJECT_DIR = Path(__file__).resolve().parents[2]
APP_HEALTHCHECK = PROJECT_DIR / "app" / "healthcheck" / "websys-healthcheck"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "websys-engine"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
MMDEBSTRAP_TIMEOUT = 900
BUILD_TIMEOUT = 300

# The official image (repository, without tag) -> the look-alike directory standing for it.
LOOKALIKES: dict[str, str] = {
    "postgres": "postgres",
    "nginx": "nginx",
    "redis": "redis",
    "prom/prometheus": "prometheus",
    "prom/alertmanager": "alertmanager",
    "grafana/grafana": "grafana",
    "prom/node-exporter": "node-exporter",
    "quay.io/prometheuscommunity/postgres-exporter": "postgres-exporter",
    "oliver006/redis_exporter": "redis-exporter",
    "nginx/nginx-prometheus-exporter": "nginx-exporter",
    "gcr.io/cadvisor/cadvisor": "cadvisor",
    "motoserver/moto": "moto",
}
# Python distributions (from this project's virtualenv) an image needs, with their dependencies:
# one layer ("python") for the two images that need them (the S3 emulator and the backup job).
PYTHON_DISTRIBUTIONS: dict[str, list[str]] = {
    "python": ["moto[s3]", "flask", "flask-cors", "boto3", "psycopg[binary]", "pydantic", "typer", "PyYAML"],
}
# An image built on another look-alike instead of the base.
PARENTS = {"moto": "python", "backup": "python"}


def repository(image: str) -> str:
    """`registry/name:tag@digest` -> `registry/name` (a port in the registry is not a tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def plan_tag(image: str) -> str:
    """The tag of an image reference (`latest` when it has none), as a tag-safe word."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else "latest"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tag)


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()


def _tree_digest(directory: Path) -> list[bytes]:
    return [
        str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    ]


def base_packages() -> list[str]:
    lines = (IMAGES_DIR / "base" / "packages.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _mmdebstrap_options() -> list[str]:
    lines = (IMAGES_DIR / "base" / "mmdebstrap-options.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def base_key() -> str:
    return _digest(*_tree_digest(IMAGES_DIR / "base"), MIRROR.encode(), SUITE.encode())[:16]


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _has_image(engine: Engine, tag: str) -> bool:
    return engine.docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).returncode == 0


def base_rootfs() -> Path:
    """The base's root filesystem as a tar, made by mmdebstrap when it is not cached yet."""
    key = base_key()
    tar = CACHE_DIR / f"base-{key}.tar"
    with _locked(f"base-{key}"):
        if tar.exists():
            return tar
        options = _mmdebstrap_options()
        partial = tar.with_suffix(".partial")
        result = subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                "--format=tar",
                *options,
                f"--include={','.join(base_packages())}",
                SUITE,
                str(partial),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=MMDEBSTRAP_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise EngineError(f"mmdebstrap failed: {result.stderr.strip()[-800:]}")
        partial.rename(tar)
    return tar


def base_image(engine: Engine) -> str:
    """The base imported into the engine once: builds that start together wait for one import (a
    second import would retag the base to a new id, and what was built on the first would no
    longer match a rebuild)."""
    tag = f"websys-lookalike/base:{base_key()}"
    with _locked(f"import-{hashlib.sha256(engine.host.encode()).hexdigest()[:12]}"):
        _import_base(engine, tag)
    return tag


def _import_base(engine: Engine, tag: str) -> None:
    if not _has_image(engine, tag):
        tar = base_rootfs()
        with tar.open("rb") as stream:
            result = subprocess.run(
                ["docker", "import", "--change", "LABEL com.websys.lookalike=debian-bookworm-base", "-", tag],
                stdin=stream,
                env=engine.env(),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        if result.returncode != 0:
            raise EngineError(f"docker import {tag}: {result.stderr.strip()}")


def _requirements_closure(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `roots` need, following their requirements and extras."""
    found: dict[str, metadata.Distribution] = {}
    pending = [(Requirement(root), "") for root in roots]
    while pending:
        requirement, extra = pending.pop()
        environment: dict[str, str] = {**default_environment(), "extra": extra}  # type: ignore[dict-item]
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        distribution = metadata.distribution(requirement.name)
        key = distribution.metadata["Name"].lower()
        if key in found and not requirement.extras:
            continue
        found[key] = distribution
        for text in distribution.requires or []:
            child = Requirement(text)
            for wanted in requirement.extras or {""}:
                pending.append((child, wanted))
    return list(found.values())


def _stage_python(roots: list[str], destination: Path) -> None:
    """Copies the installed files of `roots` and their dependencies into destination (site-packages)."""
    for distribution in _requirements_closure(roots):
        for file in distribution.files or []:
            source = Path(str(distribution.locate_file(file))).resolve()
            relative = Path(str(file))
            if relative.is_absolute() or ".." in relative.parts or not source.is_file():
                continue  # console scripts live outside site-packages; the images call modules
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _stage_context(name: str, context: Path) -> None:
    shutil.copytree(IMAGES_DIR / name, context, dirs_exist_ok=True)
    shutil.copy2(IMAGES_DIR / "claim-id", context / "claim-id")
    if name in PYTHON_DISTRIBUTIONS:
        _stage_python(PYTHON_DISTRIBUTIONS[name], context / "site-packages")
    if name == "app":  # the project's healthcheck contract: the images carry `websys-healthcheck URL`
        shutil.copy2(APP_HEALTHCHECK, context / "websys-healthcheck")
    if name == "backup":
        for package in ("websys", "components", "monitoring"):
            shutil.copytree(
                PROJECT_DIR / package, context / "site-packages" / package, ignore=shutil.ignore_patterns("__pycache__")
            )


def image_key(name: str) -> str:
    parent = image_key(PARENTS[name]) if name in PARENTS else base_key()
    parts = [parent.encode(), (IMAGES_DIR / "claim-id").read_bytes(), *_tree_digest(IMAGES_DIR / name)]
    if name in PYTHON_DISTRIBUTIONS:
        parts += [
            f"{d.metadata['Name']}=={d.version}".encode() for d in _requirements_closure(PYTHON_DISTRIBUTIONS[name])
        ]
    if name == "app":
        parts.append(APP_HEALTHCHECK.read_bytes())
    if name == "backup":
        for package in ("websys", "components", "monitoring"):
            parts += [p for p in _tree_digest(PROJECT_DIR / package) if b"__pycache__" not in p.split(b"\0", 1)[0]]
    return _digest(*parts)[:16]


def build_image(engine: Engine, name: str) -> str:
    """The look-alike image `name` (a directory of tests/engine/images) on `engine`: its tag."""
    tag = f"websys-lookalike/{name}:{image_key(name)}"
    with _locked(f"image-{name}"):
        if not _has_image(engine, tag):
            _build(engine, name, tag)
    return tag


def _build(engine: Engine, name: str, tag: str) -> None:
    base = build_image(engine, PARENTS[name]) if name in PARENTS else base_image(engine)
    with tempfile.TemporaryDirectory(prefix=f"websys-image-{name}-") as scratch:
        context = Path(scratch) / "context"
        _stage_context(name, context)
        result = subprocess.run(
            ["docker", "build", "--quiet", "--build-arg", f"BASE={base}", "--tag", tag, str(context)],
            env=engine.env(),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        raise EngineError(f"docker build {name}: {result.stderr.strip()[-1500:]}")


def lookalike_for(image: str) -> str:
    """The look-alike directory for an image the plan names (the project's own images included)."""
    repo = repository(image)
    if repo in LOOKALIKES:
        return LOOKALIKES[repo]
    last = repo.rsplit("/", 1)[-1]
    if last in ("backend", "frontend"):
        return "app"
    if last == "backup":
        return "backup"
    raise EngineError(f"no look-alike image stands for {image}")


def main(argv: list[str]) -> int:
    """`python -m tests.engine.images base-rootfs`: make the base's root filesystem now (make test
    starts this in the background while the checks run; the engine tests wait for it)."""
    if argv != ["base-rootfs"]:
        print("usage: python -m tests.engine.images base-rootfs", file=sys.stderr)
        return 2
    try:
        print(base_rootfs())
    except EngineError as error:
        print(f"look-alike base: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
