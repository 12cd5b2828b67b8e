"""Overlay networks of the Swarm platform: the edge, and an encrypted internal one for data."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.networks import OVERLAY_IGNORED, ipam_config
from websys import naming


@dataclass(frozen=True)
class SwarmNetworkArgs:
    environment: str
    # A fixed range for the data network, so pg_hba.conf can admit exactly its clients.
    data_subnet: str


class SwarmNetwork(pulumi.ComponentResource):
    """Both overlays span the cluster and encrypt traffic between nodes (IPsec), since nginx
    forwards decrypted HTTP and the backend sends credentials to the databases. Both are
    attachable, so containers outside the swarm's services (the monitoring stack on a manager) can
    join them. `data` is internal: no route out of the cluster."""

    edge_network_name: pulumi.Output[str]
    data_network_name: pulumi.Output[str]
    # Services name their networks by id (a name input would replace the service on every run).
    edge_network_id: pulumi.Output[str]
    data_network_id: pulumi.Output[str]

    def __init__(self, name: str, args: SwarmNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:swarm:SwarmNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, ignore_changes=OVERLAY_IGNORED)
        labels = [docker.NetworkLabelArgs(label="com.websys.environment", value=args.environment)]
        self.edge = docker.Network(
            f"{name}-edge",
            name=naming.network_name(args.environment, "edge"),
            driver="overlay",
            attachable=True,
            options={"encrypted": "true"},
            labels=labels,
            opts=child,
        )
        self.data = docker.Network(
            f"{name}-data",
            name=naming.network_name(args.environment, "data"),
            driver="overlay",
            attachable=True,
            internal=True,
            options={"encrypted": "true"},
            ipam_configs=[ipam_config(args.data_subnet)],
            labels=labels,
            opts=child,
        )
        self.edge_network_name = self.edge.name
        self.data_network_name = self.data.name
        self.edge_network_id = self.edge.id
        self.data_network_id = self.data.id
        self.register_outputs(
            {"edge_network_name": self.edge_network_name, "data_network_name": self.data_network_name}
        )
