"""Network inputs in the form Docker reads them back.

An `ipam_config` is ForceNew and read back whole, with the gateway Docker's default IPAM driver
chose, the subnet's first host address (kreuzwerker/terraform-provider-docker
`internal/provider/resource_docker_network_funcs.go`, read: `flattenIpamConfigSpec`;
moby v28.5.2 `libnetwork/ipams/defaultipam`). Sent without the gateway it differs from state
after the first apply: the network would be replaced, which Docker refuses while containers or
services are attached to it.
"""

from __future__ import annotations

import ipaddress

import pulumi_docker as docker

# Overlay options read back with what the Swarm manager adds: the VXLAN ids it allocated
# (moby v28.5.2 `libnetwork/drivers/overlay/ovmanager/ovmanager.go`, `vxlanid_list`), which no
# program can know. `options` is ForceNew, so it is left out of the diff (`ignoreChanges`):
# changing an overlay's options means a new network, made on purpose.
OVERLAY_IGNORED = ["options"]


def gateway(subnet: str) -> str:
    """The subnet's first host address, the gateway Docker assigns."""
    network = ipaddress.ip_network(subnet, strict=True)
    return str(next(network.hosts()))


def ipam_config(subnet: str) -> docker.NetworkIpamConfigArgs:
    return docker.NetworkIpamConfigArgs(subnet=subnet, gateway=gateway(subnet))
