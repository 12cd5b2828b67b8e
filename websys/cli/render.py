"""`websys render`: every file the stack's containers run with, written to a directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from websys.cli.common import fail, load_stack_config
from websys.render.artifacts import Artifact, artifacts
from websys.settings import SettingsError

INDEX = "artifacts.json"


def write_artifacts(found: list[Artifact], out: Path) -> None:
    """The files (one per path: containers that share a file share its path), then the index.
    A directory that holds a previous render loses that render's files first."""
    index = out / INDEX
    if out.exists() and not out.is_dir():
        fail(f"websys render: --out {out}: not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not index.is_file():
            fail(f"websys render: --out {out}: not empty and holds no {INDEX} (refusing to write into it)")
        try:
            previous = json.loads(index.read_text(encoding="utf-8"))
            paths = {entry["path"] for entry in previous if entry.get("path")}
        except (ValueError, TypeError, KeyError, AttributeError):
            fail(f"websys render: --out {out}: {INDEX} is not one websys render wrote")
        root = out.resolve()
        for relative in sorted(paths):
            old = (out / relative).resolve()
            if old.is_relative_to(root) and old.is_file():
                old.unlink()
    written: dict[str, str] = {}
    for artifact in found:
        if artifact.path is None or artifact.content is None:
            continue
        if written.setdefault(artifact.path, artifact.content) != artifact.content:
            raise ValueError(f"two different files render to {artifact.path}")
    for relative, content in written.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        path.chmod(0o755 if relative.endswith(".sh") else 0o644)
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps([artifact.record() for artifact in found], indent=2) + "\n", encoding="utf-8")


def render(
    stack: Annotated[str, typer.Argument(help="development, staging or production")],
    out: Annotated[Path, typer.Option("--out", help="Write the files and artifacts.json into DIR.")],
    set_values: Annotated[
        Optional[list[str]], typer.Option("--set", help="K=V: set websys config K (dotted path; V is YAML).")  # noqa: UP045 typer needs Optional
    ] = None,
    stack_file: Annotated[Optional[Path], typer.Option("--stack-file", help="Read config from FILE.")] = None,  # noqa: UP045
) -> None:
    """Write every rendered config file of the stack, and artifacts.json saying where each goes."""
    _config, settings = load_stack_config(stack, set_values, stack_file=stack_file)
    try:
        found = artifacts(settings)
    except SettingsError as error:
        fail(str(error))
    try:
        write_artifacts(found, out)
    except OSError as error:
        fail(f"websys render: --out {out}: {error.strerror or error}")
    written = len({artifact.path for artifact in found if artifact.path is not None})
    typer.echo(f"{stack}: {written} files for {len({a.resource for a in found})} containers in {out}/{INDEX}")
