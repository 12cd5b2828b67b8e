"""Monitoring: Prometheus, Alertmanager and Grafana with their rendered files, and the exporters.

Prometheus's configuration and rules change with every new scrape target (a backend replica, a
PostgreSQL replica), so they never reach it as uploads (a changed upload replaces the container):
the container starts from a bootstrap prometheus.yml that never changes, and a pulumi-command
`local.Command` pushes the rendered files into the running container with
`websys/push/push-config.sh` and `prometheus-apply.sh` (`promtool check config`, then SIGHUP).
Grafana's admin password is set in its database by another command (monitoring/grafana_password.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from monitoring import alertmanager, files, prometheus, runtime, targets
from monitoring.containers import ContainerSpec, hardened_container
from monitoring.exporters import Exporters, ExportersArgs
from monitoring.grafana import grafana_environment
from monitoring.grafana_password import grafana_admin_password
from websys import naming
from websys.app_env import env_list
from websys.push import PROMETHEUS_APPLY_SCRIPT, PUSH_SCRIPT, push_environment, script_text
from websys.settings import Settings
from websys.settings.text import sh_word


@dataclass(frozen=True)
class MonitoringArgs:
    settings: Settings
    edge_network: pulumi.Input[str]
    data_network: pulumi.Input[str]
    database_password: pulumi.Output[str]  # every Output here is secret
    redis_password: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    # The containers Prometheus scrapes that other components build (the backend replicas): the
    # config push waits for them, so a new target is scraped once it exists.
    scrape_containers: Sequence[pulumi.Resource] = field(default_factory=list)


class Monitoring(pulumi.ComponentResource):
    """A monitoring network of its own (internal: no route out) joins Prometheus, the host and
    container exporters, Alertmanager and Grafana. Prometheus also joins the edge network (backend
    replicas, the nginx exporter) and the data network (PostgreSQL and Redis exporters, the backup job);
    Alertmanager and Grafana join the edge network, for egress to receivers and for nginx."""

    container_names: list[str]
    monitoring_network_name: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:monitoring:Monitoring", name, None, opts)
        settings = args.settings
        env = settings.environment
        monitoring = settings.monitoring
        child = pulumi.ResourceOptions(parent=self)
        labels = [docker.NetworkLabelArgs(label="com.websys.environment", value=env)]

        self.network = docker.Network(
            f"{name}-network",
            name=naming.network_name(env, "monitoring"),
            driver="bridge",
            internal=True,
            # Created after the data network, whose fixed subnet this one's free /16 must not hold
            # (components/network.py says why): the labels wait for the data network's name.
            labels=pulumi.Output.from_input(args.data_network).apply(lambda _: labels),
            opts=child,
        )
        self.monitoring_network_name = self.network.name

        self.exporters = Exporters(
            f"{name}-exporters",
            ExportersArgs(
                settings=settings,
                edge_network=args.edge_network,
                data_network=args.data_network,
                monitoring_network=self.network.name,
                database_password=args.database_password,
                redis_password=args.redis_password,
            ),
            opts=child,
        )

        def image(key: str, reference: str) -> docker.RemoteImage:
            return docker.RemoteImage(f"{name}-{key}-image", name=reference, keep_locally=True, opts=child)

        # Metrics history and Grafana's state are data too: kept through `pulumi destroy` outside development.
        keep = env != "development"

        def volume(key: str) -> docker.Volume:
            return docker.Volume(
                f"{name}-{key}-data",
                name=f"{naming.prefix(env)}-{key}-data",
                labels=[docker.VolumeLabelArgs(label="com.websys.environment", value=env)],
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=keep, retain_on_delete=keep)),
            )

        rendered_files = files.monitoring_files(settings)  # rendered once, shared by the three containers

        def uploads(resource: str) -> list[docker.ContainerUploadArgs]:
            return [
                docker.ContainerUploadArgs(file=rendered.target, content=rendered.content)
                for rendered in rendered_files
                if rendered.resource == resource
            ]

        # Config files arrive as uploads at creation, which Docker refuses on a read-only root
        # filesystem: these three keep a writable one; everything else about them is hardened.
        # Alertmanager's and Grafana's files change rarely, and a changed one replaces the
        # container (its data stays on the volume). Prometheus only gets its bootstrap this way.
        prometheus_data = volume("prometheus")
        self.prometheus = hardened_container(
            files.PROMETHEUS_RESOURCE,
            ContainerSpec(
                container_name=targets.prometheus_name(env),
                image=image("prometheus", monitoring.images.prometheus),
                service="prometheus",
                environment=env,
                logging=settings.logging,
                user=runtime.NOBODY,
                memory_mb=monitoring.memory_mb.prometheus,
                cpus=1.0,
                networks=[self.network.name, args.edge_network, args.data_network],
                healthcheck=runtime.prometheus_healthcheck(),
                command=prometheus.prometheus_command(settings),
                read_only=False,
                volumes=[
                    docker.ContainerVolumeArgs(volume_name=prometheus_data.name, container_path=prometheus.DATA_DIR)
                ],
                # Owned by Prometheus's user, as the image's /etc/prometheus is: the push replaces it.
                uploads=[
                    docker.ContainerUploadArgs(
                        file=prometheus.CONFIG_PATH,
                        content=prometheus.render_prometheus_bootstrap(settings),
                        owner="65534",
                        group="65534",
                    )
                ],
            ),
            child,
        )
        # Runs again whenever a rendered file changes, and is replaced (so runs again) when the
        # container is: a new container starts from the bootstrap and needs the files too.
        push = push_environment(
            "prometheus",
            f"docker exec -i {sh_word(targets.prometheus_name(env))}",
            PROMETHEUS_APPLY_SCRIPT,
            files.prometheus_pushed_files(settings),
        )
        self.prometheus_config = command.local.Command(
            f"{files.PROMETHEUS_RESOURCE}-config",
            create=script_text(PUSH_SCRIPT),
            interpreter=["/bin/sh", "-c"],
            environment={"DOCKER_HOST": settings.docker.host, **push},
            triggers=[self.prometheus.id],
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus, *args.scrape_containers]),
        )

        alertmanager_data = volume("alertmanager")
        secret_uploads = [
            docker.ContainerUploadArgs(
                file=f"{alertmanager.SECRETS_DIR}/{secret.name}",
                content=_secret_setting(settings, secret),
                permissions="0400",
                owner="65534",
                group="65534",
            )
            for secret in alertmanager.secret_files(settings)
        ]
        self.alertmanager = hardened_container(
            files.ALERTMANAGER_RESOURCE,
            ContainerSpec(
                container_name=targets.alertmanager_name(env),
                image=image("alertmanager", monitoring.images.alertmanager),
                service="alertmanager",
                environment=env,
                logging=settings.logging,
                user=runtime.NOBODY,
                memory_mb=monitoring.memory_mb.alertmanager,
                networks=[self.network.name, args.edge_network],
                healthcheck=runtime.alertmanager_healthcheck(),
                command=alertmanager.alertmanager_command(settings),
                read_only=False,
                volumes=[
                    docker.ContainerVolumeArgs(volume_name=alertmanager_data.name, container_path=alertmanager.DATA_DIR)
                ],
                uploads=[*uploads(files.ALERTMANAGER_RESOURCE), *secret_uploads],
            ),
            child,
        )

        grafana_data = volume("grafana")
        admin_password = args.grafana_admin_password.apply(
            lambda password: runtime.secret_variable("GF_SECURITY_ADMIN_PASSWORD", password)
        )
        self.grafana = hardened_container(
            files.GRAFANA_RESOURCE,
            ContainerSpec(
                container_name=targets.grafana_name(env),
                image=image("grafana", monitoring.images.grafana),
                service="grafana",
                environment=env,
                logging=settings.logging,
                user=runtime.GRAFANA_USER,
                memory_mb=monitoring.memory_mb.grafana,
                networks=[self.network.name, args.edge_network],
                healthcheck=runtime.grafana_healthcheck(settings),
                envs=[*env_list(grafana_environment(settings)), admin_password],
                read_only=False,
                volumes=[docker.ContainerVolumeArgs(volume_name=grafana_data.name, container_path="/var/lib/grafana")],
                uploads=uploads(files.GRAFANA_RESOURCE),
            ),
            child,
        )
        self.grafana_admin_password = grafana_admin_password(
            settings, self.grafana, args.grafana_admin_password, parent=self
        )

        self.container_names = [
            targets.prometheus_name(env),
            targets.alertmanager_name(env),
            targets.grafana_name(env),
            *self.exporters.container_names,
        ]
        self.register_outputs(
            {"container_names": self.container_names, "monitoring_network_name": self.monitoring_network_name}
        )


def _secret_setting(settings: Settings, secret: alertmanager.SecretFile) -> pulumi.Output[str]:
    """A receiver credential from the settings (a Pulumi secret there), as a secret Output."""
    value = getattr(settings, secret.setting)
    if value is None:  # secret_files() lists only credentials that are set or required by the loader
        raise ValueError(f"websys:{secret.setting} is not set")
    return pulumi.Output.secret(value.get_secret_value())
