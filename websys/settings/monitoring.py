"""Settings of monitoring: Prometheus and its exporters, Alertmanager and its receivers, Grafana."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, model_validator

from websys.settings.text import fullmatch, template_text_problem
from websys.settings.types import ImageReference, Port, Section, UrlPath

if TYPE_CHECKING:
    from websys.settings.model import Settings

# Applied with fullmatch. Alertmanager expands Go templates in `to` and `from`, so the address
# is limited to the characters of an ordinary mailbox (no braces).
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_SMARTHOST_RE = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")
_HTTP_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%:@!&=+,;/?-]*)?")


def _email(value: str) -> str:
    if not fullmatch(_EMAIL_RE, value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _smarthost(value: str) -> str:
    if not fullmatch(_SMARTHOST_RE, value):
        raise ValueError(f"{value!r} is not host:port")
    return value


def _http_url(value: str) -> str:
    if not fullmatch(_HTTP_URL_RE, value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _template_text(value: str) -> str:
    problem = template_text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


EmailAddress = Annotated[str, AfterValidator(_email)]
TemplateText = Annotated[str, AfterValidator(_template_text)]
SmartHost = Annotated[str, AfterValidator(_smarthost)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]

# Config keys of the receivers' credentials: Pulumi secrets, never plaintext in a stack file.
MONITORING_SECRET_KEYS: tuple[str, ...] = ("alertWebhookToken", "alertSlackWebhookUrl", "alertEmailPassword")


class MonitoringImages(Section):
    """Every monitoring image, pinned by tag (or digest)."""

    prometheus: ImageReference = "prom/prometheus:v2.53.3"
    alertmanager: ImageReference = "prom/alertmanager:v0.27.0"
    grafana: ImageReference = "grafana/grafana:11.3.1"
    node_exporter: ImageReference = "prom/node-exporter:v1.8.2"
    cadvisor: ImageReference = "gcr.io/cadvisor/cadvisor:v0.49.1"
    postgres_exporter: ImageReference = "quay.io/prometheuscommunity/postgres-exporter:v0.16.0"
    # The -alpine variant has a shell and wget for the healthcheck; the default one is FROM scratch.
    redis_exporter: ImageReference = "oliver006/redis_exporter:v1.66.0-alpine"
    nginx_exporter: ImageReference = "nginx/nginx-prometheus-exporter:1.3.0"


class MonitoringMemory(Section):
    """Memory limits (MB) of the monitoring containers."""

    prometheus: int = Field(default=1024, ge=128, le=262_144)
    alertmanager: int = Field(default=128, ge=32, le=16_384)
    grafana: int = Field(default=512, ge=128, le=16_384)
    exporter: int = Field(default=64, ge=16, le=4096)
    cadvisor: int = Field(default=256, ge=64, le=4096)


class AlertThresholds(Section):
    """Where each alert fires (see the alerts table in docs/monitoring.md)."""

    cpu_percent: float = Field(default=80, gt=0, lt=100)
    memory_percent: float = Field(default=90, gt=0, lt=100)
    disk_free_warning_percent: float = Field(default=15, gt=0, lt=100)
    disk_free_critical_percent: float = Field(default=5, gt=0, lt=100)
    error_rate: float = Field(default=0.05, gt=0, lt=1)
    replication_lag_seconds: int = Field(default=30, ge=1, le=86_400)
    container_restarts: int = Field(default=3, ge=1, le=100)  # within 15 minutes
    backup_max_age_hours: int = Field(default=26, ge=1, le=24 * 30)

    @model_validator(mode="after")
    def _disk_levels(self) -> AlertThresholds:
        if self.disk_free_critical_percent >= self.disk_free_warning_percent:
            raise ValueError("diskFreeCriticalPercent must be below diskFreeWarningPercent")
        return self


class WebhookReceiver(Section):
    """A generic webhook; its bearer token (if any) is the secret `websys:alertWebhookToken`."""

    url: HttpUrl
    send_resolved: bool = True


class EmailReceiver(Section):
    """Email through an SMTP relay; the password (if any) is the secret `websys:alertEmailPassword`."""

    to: EmailAddress
    sender: EmailAddress
    smarthost: SmartHost
    auth_username: TemplateText | None = None
    require_tls: bool = True
    send_resolved: bool = True


class SlackReceiver(Section):
    """A Slack incoming webhook; its URL is the secret `websys:alertSlackWebhookUrl`."""

    channel: str = Field(pattern=r"^[#@][A-Za-z0-9._-]{1,80}$")
    send_resolved: bool = True


class AlertReceivers(Section):
    """Where Alertmanager sends alerts. Critical alerts go to every receiver configured; warnings too,
    but grouped longer and repeated less often."""

    webhook: WebhookReceiver | None = None
    email: EmailReceiver | None = None
    slack: SlackReceiver | None = None
    critical_repeat_hours: int = Field(default=1, ge=1, le=168)
    warning_repeat_hours: int = Field(default=12, ge=1, le=168)

    @property
    def configured(self) -> list[str]:
        return [name for name in ("webhook", "email", "slack") if getattr(self, name) is not None]


class MonitoringSettings(Section):
    """Prometheus, exporters, Alertmanager and Grafana. Optional in development only."""

    enabled: bool = True
    images: MonitoringImages = MonitoringImages()
    memory_mb: MonitoringMemory = MonitoringMemory()
    scrape_interval_seconds: int = Field(default=15, ge=5, le=300)
    evaluation_interval_seconds: int = Field(default=15, ge=5, le=300)
    retention_days: int = Field(default=15, ge=1, le=3650)
    retention_size_gb: int | None = Field(default=None, ge=1, le=100_000)
    # Grafana is served by nginx under this path of the frontend's domain (never a host port).
    grafana_path: UrlPath = Field(default="/grafana/", pattern=r"^/([a-z0-9-]+/)+$")
    # The backup job's /metrics (websys_backup_last_success_timestamp_seconds and friends).
    backup_metrics_port: Port = 9188
    thresholds: AlertThresholds = AlertThresholds()
    receivers: AlertReceivers = AlertReceivers()


def monitoring_problems(settings: Settings) -> list[tuple[str, str]]:
    """Rules that span several keys, as (key, reason)."""
    environment, monitoring = settings.environment, settings.monitoring
    secrets_set = {
        key
        for key, value in (
            ("alertWebhookToken", settings.alert_webhook_token),
            ("alertSlackWebhookUrl", settings.alert_slack_webhook_url),
            ("alertEmailPassword", settings.alert_email_password),
        )
        if value is not None
    }
    problems: list[tuple[str, str]] = []
    if environment != "development" and not monitoring.enabled:
        problems.append(
            ("monitoring.enabled", f"monitoring is always on in {environment}; only development may set false")
        )
    receivers = monitoring.receivers
    if monitoring.enabled and environment != "development" and not receivers.configured:
        problems.append(
            ("monitoring.receivers", f"{environment} needs at least one alert receiver (webhook, email or slack)")
        )
    if receivers.slack is not None and "alertSlackWebhookUrl" not in secrets_set:
        problems.append(
            (
                "monitoring.receivers.slack",
                "the Slack webhook URL is a secret: run `pulumi config set --secret websys:alertSlackWebhookUrl`",
            )
        )
    if receivers.email is not None and receivers.email.auth_username and "alertEmailPassword" not in secrets_set:
        problems.append(
            (
                "monitoring.receivers.email.authUsername",
                "needs the secret password: run `pulumi config set --secret websys:alertEmailPassword`",
            )
        )
    return problems
