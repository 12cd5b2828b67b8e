"""How a rendered nginx configuration reaches a running nginx: staged, checked with `nginx -t`,
then applied by a reload. The same two scripts serve `pulumi up` and the live tests."""

from __future__ import annotations

from importlib.resources import files

PUSH_SCRIPT = "push-nginx-config.sh"
APPLY_SCRIPT = "nginx-apply.sh"


def script_text(name: str) -> str:
    """The text of one of this package's shell scripts."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")
