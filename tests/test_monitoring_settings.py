"""The monitoring section of the settings: defaults, per-stack values, and one-line refusals."""

from __future__ import annotations

import pytest

from tests.planning import run_websys, stack_file, stack_settings
from websys.settings import SECRET_KEYS, SettingsError


def test_per_stack_values() -> None:
    development, staging, production = (stack_settings(s) for s in ("development", "staging", "production"))
    assert development.monitoring.enabled
    assert development.monitoring.receivers.configured == []
    assert (staging.monitoring.retention_days, production.monitoring.retention_days) == (15, 30)
    assert production.monitoring.receivers.configured == ["email"]
    assert production.proxy.status_port == 8081
    assert production.monitoring.backup_metrics_port == 9188
    for image in production.monitoring.images.model_dump().values():
        assert ":" in image.rsplit("/", 1)[-1]
        assert not image.endswith(":latest")


def test_receiver_credentials_are_secret_keys() -> None:
    assert {"alertWebhookToken", "alertSlackWebhookUrl", "alertEmailPassword"} <= set(SECRET_KEYS)


@pytest.mark.parametrize(
    ("stack", "sets", "key", "reason"),
    [
        ("production", ["monitoring.enabled=false"], "monitoring.enabled", "always on in production"),
        ("staging", ["monitoring.enabled=false"], "monitoring.enabled", "always on in staging"),
        ("staging", ["monitoring.receivers={}"], "monitoring.receivers", "at least one alert receiver"),
        (
            "development",
            ["monitoring.receivers.slack={channel: '#ops'}"],
            "monitoring.receivers.slack",
            "pulumi config set --secret websys:alertSlackWebhookUrl",
        ),
        (
            "production",
            ["monitoring.receivers.email.authUsername=alertmanager"],
            "monitoring.receivers.email.authUsername",
            "websys:alertEmailPassword",
        ),
        ("production", ["monitoring.images.grafana=grafana/grafana:latest"], "monitoring.images.grafana", "latest"),
        ("production", ["monitoring.images.prometheus=prom/prometheus"], "monitoring.images.prometheus", "not pinned"),
        ("production", ["monitoring.thresholds.cpuPercnt=90"], "monitoring.thresholds.cpuPercnt", "'cpuPercent'"),
        ("production", ["monitoring.thresholds.cpuPercent=120"], "monitoring.thresholds.cpuPercent", "less than 100"),
        (
            "production",
            ["monitoring.thresholds={diskFreeWarningPercent: 5, diskFreeCriticalPercent: 10}"],
            "monitoring.thresholds",
            "below diskFreeWarningPercent",
        ),
        ("production", ["monitoring.receivers.email.to=ops"], "monitoring.receivers.email.to", "not an email"),
        ("production", ["alertSlackWebhookUrl=https://hooks.slack.com/x"], "alertSlackWebhookUrl", "plaintext"),
        # One status port, the edge's: the exporter reads proxy.statusPort.
        ("production", ["monitoring.nginxStubStatusPort=8082"], "monitoring.nginxStubStatusPort", "unknown key"),
    ],
)
def test_bad_monitoring_settings_are_refused(stack: str, sets: list[str], key: str, reason: str) -> None:
    with pytest.raises(SettingsError) as caught:
        stack_settings(stack, sets)
    message = str(caught.value)
    assert message.startswith(f"Pulumi.{stack}.yaml: websys:{key}: "), message
    assert reason in message
    assert "\n" not in message


def test_the_command_refuses_monitoring_off_in_production_with_one_line() -> None:
    result = run_websys(
        "plan", "production", "--stack-file", str(stack_file("production")), "--set", "monitoring.enabled=false"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "--set monitoring.enabled=false: websys:monitoring.enabled: "
        "monitoring is always on in production; only development may set false"
    )
