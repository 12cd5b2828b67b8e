"""The platform on one Docker host: networks, data tier, app colors and the nginx edge, wired together.

A function, not a component: the resources keep the names and parents they have always had.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.app import AppService, AppServiceArgs
from components.network import Network, NetworkArgs
from components.ordering import after
from components.postgres import Postgres, PostgresArgs
from components.proxy import ReverseProxy, ReverseProxyArgs, TlsSource
from components.redis import Redis, RedisArgs
from components.secrets import StackSecrets
from websys import app_env
from websys.render.nginx import render_nginx, render_nginx_bootstrap
from websys.settings import Settings


@dataclass
class HostPlatform:
    network: Network
    postgres: Postgres
    redis: Redis
    backend: AppService
    frontend: AppService
    proxy: ReverseProxy | None = None

    @property
    def backend_containers(self) -> list[pulumi.Resource]:
        """Every backend replica of both colors: Prometheus scrapes them all."""
        return [container for replicas in self.backend.containers.values() for container in replicas]

    def export(self) -> None:
        assert self.proxy is not None, "add_edge() first"
        pulumi.export("platform", "host")
        pulumi.export("frontendContainers", self.frontend.container_names)
        pulumi.export("backendContainers", self.backend.container_names)
        pulumi.export("proxyContainer", self.proxy.container_name)
        pulumi.export("nginxStatusUrl", self.proxy.status_url)
        pulumi.export("tlsCertificate", self.proxy.certificate_source)
        pulumi.export("postgres", {"primary": self.postgres.primary_name, "replicas": self.postgres.replica_names})
        pulumi.export("redis", self.redis.container_name)


def deploy_host_platform(
    settings: Settings,
    secrets: StackSecrets,
    with_docker: pulumi.ResourceOptions,
    built_images: Mapping[str, pulumi.Output[str]],
) -> HostPlatform:
    """Networks, the data tier and the app colors; the edge comes with `add_edge`, once whatever else
    nginx serves (Grafana) exists."""
    env = settings.environment
    network = Network(
        "network", NetworkArgs(environment=env, data_subnet=settings.data_network.subnet), opts=with_docker
    )

    # Data tier: PostgreSQL primary and replicas, Redis; on the internal data network only.
    postgres = Postgres(
        "postgres",
        PostgresArgs(
            settings=settings,
            data_network=network.data_network_name,
            database_password=secrets.database_password,
            replication_password=secrets.replication_password,
            backup_password=secrets.backup_password,
        ),
        opts=with_docker,
    )
    redis = Redis(
        "redis",
        RedisArgs(settings=settings, data_network=network.data_network_name, password=secrets.redis_password),
        opts=with_docker,
    )

    # Each is derived from a secret Output, so each stays secret on its way into the container.
    backend_secret_variables: list[pulumi.Output[str]] = [
        secrets.database_password.apply(lambda pw: f"DATABASE_URL={app_env.database_url(settings, pw)}"),
        secrets.redis_password.apply(lambda pw: f"REDIS_URL={app_env.redis_url(pw)}"),
        secrets.jwt_secret.apply(lambda secret: f"JWT_SECRET={secret}"),
    ]
    backend = AppService(
        "backend",
        AppServiceArgs(
            environment=env,
            service="backend",
            tier=settings.backend,
            logging=settings.logging,
            networks=[network.edge_network_name, network.data_network_name],
            environment_variables=[
                *app_env.env_list(app_env.backend_plain_environment(settings)),
                *backend_secret_variables,
            ],
            built_images=built_images,
        ),
        # Its containers are created once the PostgreSQL primary and Redis are healthy.
        opts=pulumi.ResourceOptions.merge(
            with_docker, pulumi.ResourceOptions(transformations=[after(postgres.primary, redis.container)])
        ),
    )
    frontend = AppService(
        "frontend",
        AppServiceArgs(
            environment=env,
            service="frontend",
            tier=settings.frontend,
            logging=settings.logging,
            networks=[network.edge_network_name],
            environment_variables=app_env.env_list(app_env.frontend_environment(settings)),
            built_images=built_images,
        ),
        opts=with_docker,
    )

    return HostPlatform(network, postgres, redis, backend, frontend)


def add_edge(
    host: HostPlatform,
    settings: Settings,
    with_docker: pulumi.ResourceOptions,
    also_serves: Sequence[pulumi.Resource] = (),
) -> ReverseProxy:
    """nginx routes to the active color (and to `also_serves`); a switch reloads it, never replaces it."""
    env = settings.environment
    host.proxy = ReverseProxy(
        "proxy",
        ReverseProxyArgs(
            environment=env,
            proxy=settings.proxy,
            logging=settings.logging,
            docker_host=settings.docker.host,
            network=host.network.edge_network_name,
            config=render_nginx(settings),
            bootstrap_config=render_nginx_bootstrap(settings),
            tls=TlsSource(
                certificate=settings.tls_certificate,
                private_key=settings.tls_private_key,
                dns_names=sorted({settings.domains.frontend, settings.domains.api}),
                self_signed=env == "development",  # staging and production: only from secret config
                stack=pulumi.get_stack(),
            ),
            upstream_containers=[
                *host.backend.containers[settings.active_color],
                *host.frontend.containers[settings.active_color],
                *also_serves,
            ],
        ),
        opts=with_docker,
    )
    return host.proxy
