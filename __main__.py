"""The WebSys platform: load the stack's settings, build the components, export what operators need."""

import pulumi
import pulumi_docker as docker

from components.app import AppService, AppServiceArgs
from components.backups import deploy_backups
from components.network import Network, NetworkArgs
from components.secrets import SecretSpec, StackSecrets, StackSecretsArgs
from websys import app_env
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

network = Network("network", NetworkArgs(environment=env), opts=with_docker)

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
    ),
    opts=with_docker,
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

# Backups to S3, restore drills and the compliance log archive.
backups = deploy_backups(
    settings, network.edge_network_name, network.data_network_name, secrets.database_password, with_docker
)

pulumi.export("environment", env)
pulumi.export("activeColor", settings.active_color)
pulumi.export("frontendUrl", f"https://{settings.domains.frontend}")
pulumi.export("apiBaseUrl", settings.api_base_url)
pulumi.export("networks", {"edge": network.edge_network_name, "data": network.data_network_name})
pulumi.export("frontendContainers", frontend.container_names)
pulumi.export("backendContainers", backend.container_names)
pulumi.export("backups", backups.outputs())
