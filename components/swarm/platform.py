"""The stack on Docker Swarm: overlays, secrets, configs, the data services, the apps and the edge.

The same settings as on one host; only the resources differ. The renderers of the host platform
provide every file (nginx.conf, postgresql.conf, pg_hba.conf, redis.conf, the init and replica
scripts), here delivered as content-named Swarm configs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.ordering import after
from components.secrets import StackSecrets
from components.swarm.app import SwarmAppService, SwarmAppServiceArgs
from components.swarm.configs import SwarmConfigs, SwarmConfigsArgs
from components.swarm.edge import SwarmProxy, SwarmProxyArgs
from components.swarm.network import SwarmNetwork, SwarmNetworkArgs
from components.swarm.postgres import SwarmPostgres, SwarmPostgresArgs
from components.swarm.redis import SwarmRedis, SwarmRedisArgs
from components.swarm.secrets import SwarmSecrets, SwarmSecretsArgs
from websys import app_env
from websys.render import postgres as postgres_files
from websys.render import redis as redis_files
from websys.render.nginx import CONFIG_PATH, NginxRuntime, render_nginx
from websys.settings import Settings

SECRETS_DIR = "/run/secrets"
# The backend reads each of these from the file named by `<NAME>_FILE` (see docs/swarm.md).
BACKEND_SECRET_FILES = {"DATABASE_URL": "database-url", "REDIS_URL": "redis-url", "JWT_SECRET": "jwt-secret"}
TLS_CERTIFICATE_FILE = "websys.crt"
TLS_PRIVATE_KEY_FILE = "websys.key"


def backend_environment(settings: Settings) -> dict[str, str]:
    """The backend's variables on Swarm: the plain ones, and the paths of its secret files."""
    return {
        **app_env.backend_plain_environment(settings),
        **{f"{name}_FILE": f"{SECRETS_DIR}/{file}" for name, file in BACKEND_SECRET_FILES.items()},
    }


def nginx_runtime() -> NginxRuntime:
    """The certificate and key are Swarm secrets, under /run/secrets."""
    return NginxRuntime(
        certificate=f"{SECRETS_DIR}/{TLS_CERTIFICATE_FILE}", private_key=f"{SECRETS_DIR}/{TLS_PRIVATE_KEY_FILE}"
    )


def rendered_files(settings: Settings) -> dict[str, str]:
    """Every config file of the stack by purpose (part of its Swarm config's name)."""
    contents = {
        "nginx-conf": render_nginx(settings, nginx_runtime()),
        "postgresql-conf": postgres_files.render_postgresql_conf(settings),
        "pg-hba-conf": postgres_files.render_pg_hba(settings),
        "postgres-init": postgres_files.render_primary_init(settings),
        "redis-conf": redis_files.render_redis_conf(settings),
    }
    for index in range(1, settings.postgres.replicas + 1):
        contents[f"postgres-replica-{index}-start"] = postgres_files.render_replica_bootstrap(settings, index)
    return contents


@dataclass(frozen=True)
class SwarmPlatformArgs:
    settings: Settings
    secrets: StackSecrets


class SwarmPlatform(pulumi.ComponentResource):
    """Everything but the shared secrets and monitoring, as Swarm services."""

    service_names: dict[str, str]

    def __init__(self, name: str, args: SwarmPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmPlatform", name, None, opts)
        settings, stack_secrets = args.settings, args.secrets
        env = settings.environment
        child = pulumi.ResourceOptions(parent=self)
        self.network = SwarmNetwork(
            f"{name}-network", SwarmNetworkArgs(environment=env, data_subnet=settings.data_network.subnet), opts=child
        )
        self.configs = SwarmConfigs(
            f"{name}-configs", SwarmConfigsArgs(environment=env, contents=rendered_files(settings)), opts=child
        )
        if settings.tls_certificate is None or settings.tls_private_key is None:  # refused by the settings
            raise ValueError("platform swarm needs tlsCertificate and tlsPrivateKey")
        certificate = settings.tls_certificate.get_secret_value()
        private_key = settings.tls_private_key.get_secret_value()
        self.secrets = SwarmSecrets(
            f"{name}-secrets",
            SwarmSecretsArgs(
                environment=env,
                contents={
                    "database-password": stack_secrets.database_password,
                    "replication-password": stack_secrets.replication_password,
                    "backup-password": stack_secrets.backup_password,
                    "redis-password": stack_secrets.redis_password,
                    "redis-auth": stack_secrets.redis_password.apply(redis_files.render_redis_auth),
                    "database-url": stack_secrets.database_password.apply(
                        lambda pw: app_env.database_url(settings, pw)
                    ),
                    "redis-url": stack_secrets.redis_password.apply(app_env.redis_url),
                    "jwt-secret": stack_secrets.jwt_secret,
                    "tls-certificate": pulumi.Output.secret(certificate),
                    "tls-private-key": pulumi.Output.secret(private_key),
                },
            ),
            opts=child,
        )
        data_network, edge_network = self.network.data_network_id, self.network.edge_network_id

        self.postgres = SwarmPostgres(
            f"{name}-postgres",
            SwarmPostgresArgs(
                settings=settings,
                data_network=data_network,
                mount_secret=self.secrets.mount,
                mount_config=self.configs.mount,
            ),
            opts=child,
        )
        self.redis = SwarmRedis(
            f"{name}-redis",
            SwarmRedisArgs(
                settings=settings,
                data_network=data_network,
                mount_secret=self.secrets.mount,
                mount_config=self.configs.mount,
            ),
            opts=child,
        )
        backend_uid, _, backend_gid = settings.backend.user.partition(":")
        data_ready = [service for service in (self.postgres.primary, self.redis.service) if service is not None]
        self.backend = SwarmAppService(
            f"{name}-backend",
            SwarmAppServiceArgs(
                environment=env,
                service="backend",
                tier=settings.backend,
                color=settings.active_color,
                swarm=settings.swarm,
                logging=settings.logging,
                networks=[edge_network, data_network],
                environment_variables=backend_environment(settings),
                secrets=[
                    self.secrets.mount(file, file, uid=backend_uid, gid=backend_gid or backend_uid)
                    for file in BACKEND_SECRET_FILES.values()
                ],
            ),
            # Its tasks are created once the PostgreSQL primary and Redis have converged.
            opts=pulumi.ResourceOptions(parent=self, transformations=[after(*data_ready)]),
        )
        self.frontend = SwarmAppService(
            f"{name}-frontend",
            SwarmAppServiceArgs(
                environment=env,
                service="frontend",
                tier=settings.frontend,
                color=settings.active_color,
                swarm=settings.swarm,
                logging=settings.logging,
                networks=[edge_network],
                environment_variables=app_env.frontend_environment(settings),
            ),
            opts=child,
        )
        self.proxy = SwarmProxy(
            f"{name}-proxy",
            SwarmProxyArgs(
                environment=env,
                proxy=settings.proxy,
                swarm=settings.swarm,
                logging=settings.logging,
                network=edge_network,
                config=self.configs.mount("nginx-conf", CONFIG_PATH),
                secrets=[
                    self.secrets.mount("tls-certificate", TLS_CERTIFICATE_FILE, mode=0o444),
                    self.secrets.mount("tls-private-key", TLS_PRIVATE_KEY_FILE),
                ],
            ),
            opts=pulumi.ResourceOptions(
                parent=self, transformations=[after(self.backend.service, self.frontend.service)]
            ),
        )
        self.service_names = {
            "frontend": self.frontend.service_name,
            "backend": self.backend.service_name,
            "nginx": self.proxy.service_name,
        }
        self.register_outputs({"service_names": self.service_names})

    def export(self) -> None:
        """The stack outputs an operator needs on a swarm (the host platform exports its own)."""
        pulumi.export("platform", "swarm")
        pulumi.export("services", self.service_names)
        pulumi.export("postgres", {"primary": self.postgres.primary_name, "replicas": self.postgres.replica_names})
        pulumi.export("redis", self.redis.service_name)
        pulumi.export("tlsCertificate", "config")
