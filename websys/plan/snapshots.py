"""Committed plan snapshots (`plans/<stack>.json`): a pull request shows its plan change in its diff."""

from __future__ import annotations

from pathlib import Path

from websys.plan.model import Plan

REFRESH_COMMAND = "make plans"


def snapshot_path(project_dir: Path, stack: str) -> Path:
    return project_dir / "plans" / f"{stack}.json"


def stale_snapshot(path: Path, plan: Plan) -> str | None:
    """None when the snapshot matches the plan; otherwise one line saying what to run."""
    try:
        committed = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{path.parent.name}/{path.name} is missing: run `{REFRESH_COMMAND}` and commit the result"
    if committed != plan.dumps():
        return f"{path.parent.name}/{path.name} is stale: run `{REFRESH_COMMAND}` and commit the result"
    return None
