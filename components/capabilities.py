"""Linux capability names in the form Docker stores and reads back.

The Docker client pulumi-docker uses (github.com/docker/docker v28.5.2, `client/container_create.go`,
`normalizeCapabilities`) upper-cases every name, prefixes `CAP_` (except the magic value `ALL`),
removes duplicates and sorts them before it creates a container; the provider then reads
`HostConfig.CapAdd`/`CapDrop` back as they are (kreuzwerker/terraform-provider-docker
`internal/provider/resource_docker_container_funcs.go`, `capabilities`: ForceNew, no diff
suppression). A name sent in another form differs from state on every run: a replacement.
"""

from __future__ import annotations

from collections.abc import Iterable

ALL = "ALL"


def normalize_capability(name: str) -> str:
    """`chown` -> `CAP_CHOWN`; `ALL` stays `ALL`."""
    upper = name.upper()
    if upper == ALL or upper.startswith("CAP_"):
        return upper
    return f"CAP_{upper}"


def normalize_capabilities(names: Iterable[str]) -> list[str]:
    """Each name normalized, without duplicates, sorted: what Docker reads back."""
    return sorted({normalize_capability(name) for name in names})
