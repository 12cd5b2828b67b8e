"""The settings model: one typed, validated view of everything a stack file may say."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from websys.settings.app import AppTierSettings, Color, DeploySettings, LoggingSettings
from websys.settings.backup import BackupSettings
from websys.settings.edge import PemCertificate, PemPrivateKey
from websys.settings.images import ImageBuildSettings, RegistrySettings
from websys.settings.monitoring import MONITORING_SECRET_KEYS, MonitoringSettings
from websys.settings.services import DataNetworkSettings, PostgresSettings, ProxySettings, RedisSettings
from websys.settings.swarm import Platform, SwarmSettings
from websys.settings.types import (
    DockerHost,
    DomainName,
    GrafanaPassword,
    Password,
    Port,
    Section,
    SqlName,
    SshOption,
)

Environment = Literal["development", "staging", "production"]
ENVIRONMENTS: tuple[Environment, ...] = ("development", "staging", "production")

# Config keys (camelCase, in the `websys` namespace) whose values must be Pulumi secrets.
SECRET_KEYS: tuple[str, ...] = (
    "databasePassword",
    "jwtSecret",
    "replicationPassword",
    "redisPassword",
    "grafanaAdminPassword",
    *MONITORING_SECRET_KEYS,
    # The edge's TLS certificate (PEM, with its chain) and key; unset: self-signed in development only.
    "tlsCertificate",
    "tlsPrivateKey",
)


class DockerSettings(Section):
    """Where the stack's containers run: the local socket, or a remote daemon over SSH."""

    host: DockerHost
    ssh_opts: list[SshOption] = Field(default_factory=list, max_length=32)


class DomainSettings(Section):
    frontend: DomainName
    api: DomainName


class DatabaseSettings(Section):
    """The application's database and role (the guide's `websys_db_<env>`)."""

    name: SqlName
    user: SqlName = "websys"
    port: Port = 5432


class Settings(Section):
    environment: Environment
    node_env: str = Field(pattern=r"^[a-z]+$")
    docker: DockerSettings
    domains: DomainSettings
    database: DatabaseSettings
    frontend: AppTierSettings
    backend: AppTierSettings
    deploy: DeploySettings = DeploySettings()
    logging: LoggingSettings = LoggingSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    proxy: ProxySettings = ProxySettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    data_network: DataNetworkSettings = DataNetworkSettings()
    backup: BackupSettings = BackupSettings()
    images: ImageBuildSettings = ImageBuildSettings()  # built from the repository (development)
    registry: RegistrySettings | None = None  # where pulled images come from, and its credentials
    # --- platform: one Docker host (containers, blue/green), or Docker Swarm services (production) ---
    platform: Platform = "host"
    swarm: SwarmSettings = SwarmSettings()

    # Secrets: None means "not set", and the program generates one with pulumi-random.
    database_password: Password | None = None
    jwt_secret: Password | None = None
    replication_password: Password | None = None
    redis_password: Password | None = None
    grafana_admin_password: GrafanaPassword | None = None
    # Alertmanager receivers' credentials (monitoring.receivers): never generated.
    alert_webhook_token: Password | None = None
    alert_slack_webhook_url: Password | None = None
    alert_email_password: Password | None = None
    tls_certificate: PemCertificate | None = None
    tls_private_key: PemPrivateKey | None = None

    @property
    def active_color(self) -> Color:
        return self.deploy.active_color

    @property
    def api_base_url(self) -> str:
        """The URL the browser uses for the API: its own host, or the API host under /api."""
        if self.domains.api == self.domains.frontend:
            return f"https://{self.domains.frontend}/api"
        return f"https://{self.domains.api}"
