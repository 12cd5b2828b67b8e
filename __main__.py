"""The WebSys platform: load the stack's settings, build the components, export what operators need."""

import pulumi
import pulumi_docker as docker

from components.backups import deploy_backups
from components.host import HostPlatform, add_edge, deploy_host_platform
from components.images import BuiltImages, BuiltImagesArgs
from components.network import Network
from components.secrets import SecretSpec, StackSecrets, StackSecretsArgs
from components.swarm.network import SwarmNetwork
from components.swarm.platform import SwarmPlatform, SwarmPlatformArgs
from monitoring.component import Monitoring, MonitoringArgs
from websys.settings import load_settings
from websys.settings.images import built_references

settings = load_settings()
env = settings.environment

# Pulls from the stack's registry use the credentials `docker login` stored (docs/reference-app.md).
registry_auth = (
    [docker.ProviderRegistryAuthArgs(address=settings.registry.server, config_file=settings.registry.config_file)]
    if settings.registry is not None
    else None
)
docker_provider = docker.Provider(
    "docker", host=settings.docker.host, ssh_opts=settings.docker.ssh_opts or None, registry_auth=registry_auth
)
with_docker = pulumi.ResourceOptions(providers={"docker": docker_provider})

# Development builds the reference app and the backup job from the repository (components/images.py).
built_images: dict[str, pulumi.Output[str]] = {}
if settings.images.build:
    built = BuiltImages(
        "images",
        BuiltImagesArgs(
            settings=settings.images,
            tags={service: built_references(settings, service) for service in settings.images.build},
            docker_host=settings.docker.host,
        ),
        opts=with_docker,
    )
    built_images = built.image_ids

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

# Containers on one Docker host, or Docker Swarm services with rolling updates (components/swarm).
if settings.platform == "swarm":
    swarm = SwarmPlatform("swarm", SwarmPlatformArgs(settings=settings, secrets=secrets), opts=with_docker)
    swarm.export()
    network: Network | SwarmNetwork = swarm.network  # attachable overlays: monitoring and backups join them
    host: HostPlatform | None = None
else:
    host = deploy_host_platform(settings, secrets, with_docker, built_images)
    network = host.network

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
            scrape_containers=host.backend_containers if host is not None else [],
        ),
        opts=with_docker,
    )
    pulumi.export("monitoringContainers", monitoring.container_names)
    dashboards.append(monitoring.grafana)

if host is not None:
    add_edge(host, settings, with_docker, also_serves=dashboards)
    host.export()

# Backups to S3, restore drills and the compliance log archive.
backups = deploy_backups(
    settings, network.edge_network_name, network.data_network_name, secrets, with_docker, built_images
)

pulumi.export("environment", env)
pulumi.export("activeColor", settings.active_color)
pulumi.export("frontendUrl", f"https://{settings.domains.frontend}")
pulumi.export("apiBaseUrl", settings.api_base_url)
pulumi.export("networks", {"edge": network.edge_network_name, "data": network.data_network_name})
pulumi.export("backups", backups.outputs())
# Secret outputs (encrypted in the state): `pulumi stack output grafanaAdminPassword --show-secrets`.
pulumi.export("grafanaAdminPassword", secrets.grafana_admin_password)
