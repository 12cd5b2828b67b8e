"""Helpers of the monitoring tests: settings with overrides, rendering into a directory, the real tools."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from monitoring.files import RenderedFile, monitoring_files
from websys.plan import PROJECT_DIR
from websys.settings import Settings, parse_settings, stack_file_name
from websys.stackfile import apply_override, read_stack_file

# Every receiver kind at once, with its credentials as secrets (as `--secret` gives them).
ALL_RECEIVERS = [
    "monitoring.receivers.webhook={url: 'https://hooks.websys.company.com/alerts'}",
    "monitoring.receivers.slack={channel: '#websys-ops'}",
    "monitoring.receivers.email={to: ops@websys.company.com, sender: am@websys.company.com, "
    "smarthost: 'smtp.websys.company.com:587', authUsername: alertmanager}",
]
RECEIVER_SECRETS = [
    "alertWebhookToken=token-for-test",
    "alertSlackWebhookUrl=https://hooks.slack.com/services/T0/B0/secret",
    "alertEmailPassword=smtp-password-for-test",
]


def settings_for(stack: str, sets: Sequence[str] = (), secrets: Sequence[str] = ()) -> Settings:
    config = read_stack_file(PROJECT_DIR / stack_file_name(stack))
    for assignment in sets:
        apply_override(config, assignment, secret=False, flag="--set")
    for assignment in secrets:
        apply_override(config, assignment, secret=True, flag="--secret")
    return parse_settings(stack, config.engine_form(), sorted(config.secret_keys))


def render_into(directory: Path, settings: Settings) -> list[RenderedFile]:
    rendered = monitoring_files(settings)
    for file in rendered:
        path = directory / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.content, encoding="utf-8")
    return rendered


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
    assert found, f"{name} is not installed: run scripts/install-system-packages.sh"
    return found


def run(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
