"""The edge on Swarm: nginx as a replicated service, the only one that publishes 80 and 443."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.proxy import CAPABILITIES, HTTP_PORT, HTTPS_PORT
from components.swarm import task
from websys import naming
from websys.render.nginx import HEALTH_PATH
from websys.settings.app import LoggingSettings
from websys.settings.services import ProxySettings
from websys.settings.swarm import SwarmSettings


@dataclass(frozen=True)
class SwarmProxyArgs:
    environment: str
    proxy: ProxySettings
    swarm: SwarmSettings
    logging: LoggingSettings
    network: pulumi.Input[str]  # the edge overlay's id
    config: docker.ServiceTaskSpecContainerSpecConfigArgs  # nginx.conf (a content-named config)
    secrets: Sequence[docker.ServiceTaskSpecContainerSpecSecretArgs]  # certificate and key


class SwarmProxy(pulumi.ComponentResource):
    """A new nginx.conf, certificate or key is a new config or secret name, so a service update:
    new tasks start with the new files and must pass their healthcheck (nginx refuses to start on a
    config it cannot load) before old ones stop; a failure rolls back to the running files. This
    replaces the host platform's checked reload."""

    service_name: str

    def __init__(self, name: str, args: SwarmProxyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmProxy", name, None, opts)
        proxy, swarm = args.proxy, args.swarm
        self.service_name = naming.nginx(args.environment)
        labels = {"com.websys.environment": args.environment, "com.websys.service": "nginx"}
        self.service = docker.Service(
            f"{name}-service",
            name=self.service_name,
            labels=task.service_labels(labels),
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=swarm.proxy_replicas)),
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                    image=task.pinned_image(proxy.image),
                    configs=[args.config],
                    secrets=list(args.secrets),
                    cap_drops=["ALL"],
                    cap_adds=CAPABILITIES,
                    healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
                        tests=[
                            "CMD",
                            "wget",
                            "-q",
                            "-O",
                            "/dev/null",
                            f"http://127.0.0.1:{proxy.status_port}{HEALTH_PATH}",
                        ],
                        interval="10s",
                        timeout="5s",
                        retries=3,
                        start_period="5s",
                    ),
                    # SIGQUIT (the image's stop signal) lets in-flight requests finish.
                    stop_grace_period=task.seconds(swarm.stop_grace_seconds),
                    labels=task.container_labels(labels),
                ),
                resources=task.resources(proxy.cpus, proxy.memory_mb, swarm.reservation_percent),
                restart_policy=task.restart_policy(),
                placement=docker.ServiceTaskSpecPlacementArgs(prefs=task.spread(swarm)),
                log_driver=task.log_driver(args.logging),
                networks_advanceds=[docker.ServiceTaskSpecNetworksAdvancedArgs(id=args.network, aliases=["nginx"])],
            ),
            # The routing mesh publishes 80 and 443 on every node and balances over healthy tasks.
            endpoint_spec=docker.ServiceEndpointSpecArgs(
                mode="vip",
                ports=[
                    docker.ServiceEndpointSpecPortArgs(
                        name=port_name, target_port=port, published_port=port, protocol="tcp", publish_mode="ingress"
                    )
                    for port_name, port in (("http", HTTP_PORT), ("https", HTTPS_PORT))
                ],
            ),
            update_config=task.rolling_update(swarm),
            rollback_config=task.rollback(swarm),
            converge_config=docker.ServiceConvergeConfigArgs(
                delay="7s", timeout=task.converge_timeout(swarm.proxy_replicas, swarm, 45)
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=task.SERVICE_IGNORED),
        )
        self.register_outputs({"service_name": self.service_name})
