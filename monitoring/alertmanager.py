"""alertmanager.yml: routing by severity, receivers from the settings, critical inhibits warning.

Credentials never appear in the file: it names files (`*_file`) that the container receives as
secrets, so the rendered configuration is reviewable and the same for everyone who renders it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from websys.settings import Settings

CONFIG_PATH = "/etc/alertmanager/alertmanager.yml"
SECRETS_DIR = "/etc/alertmanager/secrets"
DATA_DIR = "/alertmanager"


@dataclass(frozen=True)
class SecretFile:
    """A credential file Alertmanager reads; `setting` is the Settings attribute that holds it."""

    name: str
    setting: str


WEBHOOK_TOKEN = SecretFile("webhook-token", "alert_webhook_token")
SLACK_URL = SecretFile("slack-webhook-url", "alert_slack_webhook_url")
EMAIL_PASSWORD = SecretFile("email-password", "alert_email_password")


def secret_files(settings: Settings) -> list[SecretFile]:
    """The credential files this configuration reads, in a stable order."""
    receivers = settings.monitoring.receivers
    files = []
    if receivers.webhook is not None and settings.alert_webhook_token is not None:
        files.append(WEBHOOK_TOKEN)
    if receivers.email is not None and receivers.email.auth_username:
        files.append(EMAIL_PASSWORD)
    if receivers.slack is not None:
        files.append(SLACK_URL)
    return files


def _integrations(settings: Settings, secrets_dir: str) -> dict[str, Any]:
    receivers = settings.monitoring.receivers
    env = settings.environment
    configs: dict[str, Any] = {}
    if receivers.webhook is not None:
        webhook: dict[str, Any] = {"url": receivers.webhook.url, "send_resolved": receivers.webhook.send_resolved}
        if settings.alert_webhook_token is not None:
            webhook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials_file": f"{secrets_dir}/{WEBHOOK_TOKEN.name}"}
            }
        configs["webhook_configs"] = [webhook]
    if receivers.email is not None:
        email = receivers.email
        entry: dict[str, Any] = {
            "to": email.to,
            "from": email.sender,
            "smarthost": email.smarthost,
            "require_tls": email.require_tls,
            "send_resolved": email.send_resolved,
            "headers": {"Subject": f"[websys {env}] {{{{ .Status | toUpper }}}} {{{{ .CommonLabels.alertname }}}}"},
        }
        if email.auth_username:
            entry["auth_username"] = email.auth_username
            entry["auth_password_file"] = f"{secrets_dir}/{EMAIL_PASSWORD.name}"
        configs["email_configs"] = [entry]
    if receivers.slack is not None:
        configs["slack_configs"] = [
            {
                "api_url_file": f"{secrets_dir}/{SLACK_URL.name}",
                "channel": receivers.slack.channel,
                "send_resolved": receivers.slack.send_resolved,
                "title": f"[websys {env}] {{{{ .Status | toUpper }}}} {{{{ .CommonLabels.alertname }}}}",
                "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
            }
        ]
    return configs


def alertmanager_config(settings: Settings, secrets_dir: str = SECRETS_DIR) -> dict[str, Any]:
    receivers = settings.monitoring.receivers
    integrations = _integrations(settings, secrets_dir)
    # Both receivers use every configured integration; they differ in timing. With none configured
    # (development) alerts are only visible in Alertmanager and Grafana.
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "warning",
            "group_by": ["alertname", "environment", "instance"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": f"{receivers.warning_repeat_hours}h",
            "routes": [
                {
                    "receiver": "critical",
                    "matchers": ['severity="critical"'],
                    "group_wait": "10s",
                    "repeat_interval": f"{receivers.critical_repeat_hours}h",
                },
                {
                    "receiver": "warning",
                    "matchers": ['severity="warning"'],
                },
            ],
        },
        "inhibit_rules": [
            {
                # A critical alert silences the warnings about the same target (same instance).
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["environment", "instance"],
            }
        ],
        "receivers": [
            {"name": "critical", **integrations},
            {"name": "warning", **integrations},
        ],
    }


def render_alertmanager_config(settings: Settings, secrets_dir: str = SECRETS_DIR) -> str:
    header = f"# alertmanager.yml of websys {settings.environment}: rendered from the stack settings; do not edit.\n"
    return header + yaml.safe_dump(alertmanager_config(settings, secrets_dir), sort_keys=False, width=200)


def alertmanager_command(settings: Settings) -> list[str]:
    return [
        f"--config.file={CONFIG_PATH}",
        f"--storage.path={DATA_DIR}",
        "--cluster.listen-address=",  # a single instance: no gossip port
    ]
