"""The WebSys platform: load the stack's settings, build the components, export what operators need."""

import pulumi
import pulumi_docker as docker

from components.app import AppService, AppServiceArgs
from components.network import Network, NetworkArgs
from components.ordering import after
from components.postgres import Postgres, PostgresArgs
from components.proxy import ReverseProxy, ReverseProxyArgs, TlsSource
from components.redis import Redis, RedisArgs
from components.secrets import SecretSpec, StackSecrets, StackSecretsArgs
from monitoring.component import Monitoring, MonitoringArgs
from websys import app_env
from websys.render.nginx import render_nginx, render_nginx_bootstrap
from websys.settings import load_settings

settings = load_settings()
env = settings.environment

docker_provider = docker.Provider(
    "docker",
    host=settings.docker.host,
    ssh_opts=settings.docker.ssh_opts or None,
)
with_docker = pulumi.ResourceOptions(providers={"docker": docker_provider})

secrets = StackSecrets(
    "secrets",
    StackSecretsArgs(
        database_password=SecretSpec(settings.database_password),
        jwt_secret=SecretSpec(settings.jwt_secret, length=64),
        replication_password=SecretSpec(settings.replication_password),
        redis_password=SecretSpec(settings.redis_password),
        grafana_admin_password=SecretSpec(settings.grafana_admin_password),
    ),
)

network = Network("network", NetworkArgs(environment=env, data_subnet=settings.data_network.subnet), opts=with_docker)

# Each is derived from a secret Output, so each stays secret on its way into the container.
backend_secret_variables: list[pulumi.Output[str]] = [
    secrets.database_password.apply(lambda pw: f"DATABASE_URL={app_env.database_url(settings, pw)}"),
    secrets.redis_password.apply(lambda pw: f"REDIS_URL={app_env.redis_url(pw)}"),
    secrets.jwt_secret.apply(lambda secret: f"JWT_SECRET={secret}"),
]

# --- data tier: PostgreSQL primary and replicas, Redis; on the internal data network only ---
postgres = Postgres(
    "postgres",
    PostgresArgs(
        settings=settings,
        data_network=network.data_network_name,
        database_password=secrets.database_password,
        replication_password=secrets.replication_password,
    ),
    opts=with_docker,
)
redis = Redis(
    "redis",
    RedisArgs(settings=settings, data_network=network.data_network_name, password=secrets.redis_password),
    opts=with_docker,
)

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
    ),
    opts=with_docker,
)

# Monitoring: Prometheus with exporters, Alertmanager and Grafana; optional in development only.
dashboards: list[pulumi.Resource] = []  # Grafana, which nginx serves under monitoring.grafanaPath
if settings.monitoring.enabled:
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            settings=settings,
            edge_network=network.edge_network_name,
            data_network=network.data_network_name,
            database_password=secrets.database_password,
            redis_password=secrets.redis_password,
            grafana_admin_password=secrets.grafana_admin_password,
            scrape_containers=[container for replicas in backend.containers.values() for container in replicas],
        ),
        opts=with_docker,
    )
    pulumi.export("monitoringContainers", monitoring.container_names)
    dashboards.append(monitoring.grafana)

# The edge: nginx routes to the active color (and Grafana); a switch reloads it, never replaces it.
proxy = ReverseProxy(
    "proxy",
    ReverseProxyArgs(
        environment=env,
        proxy=settings.proxy,
        logging=settings.logging,
        docker_host=settings.docker.host,
        network=network.edge_network_name,
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
            *backend.containers[settings.active_color],
            *frontend.containers[settings.active_color],
            *dashboards,
        ],
    ),
    opts=with_docker,
)

pulumi.export("environment", env)
pulumi.export("activeColor", settings.active_color)
pulumi.export("frontendUrl", f"https://{settings.domains.frontend}")
pulumi.export("apiBaseUrl", settings.api_base_url)
pulumi.export("networks", {"edge": network.edge_network_name, "data": network.data_network_name})
pulumi.export("frontendContainers", frontend.container_names)
pulumi.export("backendContainers", backend.container_names)
pulumi.export("proxyContainer", proxy.container_name)
pulumi.export("nginxStatusUrl", proxy.status_url)
pulumi.export("tlsCertificate", proxy.certificate_source)
pulumi.export("postgres", {"primary": postgres.primary_name, "replicas": postgres.replica_names})
pulumi.export("redis", redis.container_name)
