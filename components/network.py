"""Segmented Docker networks: an edge network for nginx and the apps, an internal one for data."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.networks import ipam_config
from websys import naming


@dataclass(frozen=True)
class NetworkArgs:
    environment: str
    # A fixed range for the data network, so pg_hba.conf can admit exactly its clients.
    data_subnet: str | None = None


class Network(pulumi.ComponentResource):
    """`edge` carries HTTP between nginx and the apps; `data` is internal: no route off the host,
    and only containers attached to it (the backend, the databases) can reach PostgreSQL and Redis."""

    edge_network_name: pulumi.Output[str]
    data_network_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = [docker.NetworkLabelArgs(label="com.websys.environment", value=args.environment)]
        self.data = docker.Network(
            f"{name}-data",
            name=naming.network_name(args.environment, "data"),
            driver="bridge",
            internal=True,
            # `internal` takes the route off the host, but Docker still gives the bridge the subnet's
            # gateway address, through which every container on it reaches the Docker host itself
            # (its sshd, its daemon's published ports). Without an address on the bridge the
            # containers reach each other and nothing else (seen on a real engine, Docker 20.10).
            options={"com.docker.network.bridge.inhibit_ipv4": "true"},
            ipam_configs=[ipam_config(args.data_subnet)] if args.data_subnet else None,
            labels=labels,
            opts=child,
        )
        # After the data network: Docker gives a network without a subnet the next free /16 of its
        # default pools (172.17-172.31, and it does not reuse a released one soon), which can hold
        # the data network's fixed subnet; created at once, the data network then fails with "Pool
        # overlaps" (seen on a real engine). Created after it, the edge network skips that /16.
        self.edge = docker.Network(
            f"{name}-edge",
            name=naming.network_name(args.environment, "edge"),
            driver="bridge",
            labels=labels,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.data]),
        )
        self.edge_network_name = self.edge.name
        self.data_network_name = self.data.name
        self.register_outputs(
            {"edge_network_name": self.edge_network_name, "data_network_name": self.data_network_name}
        )
