"""Settings of image builds (development) and of the registry staging and production pull from.

Development builds the images of the services listed in `images.build` from the repository's
Dockerfiles (docker/<service>.Dockerfile); the service's own `image` key is then the tag the build
gets, so every other component reads one setting whatever its origin. Staging and production pull
pinned references from a registry, with the credentials `docker login` stored on the machine that
runs `pulumi up` (see docs/reference-app.md).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field

from websys.settings.types import ImageReference, Section

if TYPE_CHECKING:
    from websys.settings.model import Settings

BuiltService = Literal["frontend", "backend", "backup"]
# Where each built image's Dockerfile and build context are, relative to the project directory.
DOCKERFILES: dict[BuiltService, tuple[str, str]] = {
    "frontend": ("docker/frontend.Dockerfile", "app"),
    "backend": ("docker/backend.Dockerfile", "app"),
    "backup": ("docker/backup.Dockerfile", "."),
}
BUILD_ENVIRONMENTS = ("development",)

_REGISTRY_RE = re.compile(
    r"^(?=.{1,253}(:|$))[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$"
)


def _registry_host(value: str) -> str:
    if not _REGISTRY_RE.match(value):
        raise ValueError(
            f"{value!r} is not a registry host such as 'registry.example.com' or 'registry.example.com:5000'"
        )
    return value


RegistryHost = Annotated[str, AfterValidator(_registry_host)]


class ImageBuildSettings(Section):
    build: list[BuiltService] = Field(default_factory=list)
    # The Dockerfiles' BASE_IMAGE; unset: the pinned default written in each Dockerfile.
    base_image: ImageReference | None = None


class RegistrySettings(Section):
    """The registry the stack's own images come from. The Docker provider reads its credentials from
    the Docker client config that `docker login <server>` writes (credential helpers included), so
    no registry password is kept in the stack's config; Swarm services get them through the provider."""

    server: RegistryHost
    config_file: str = Field(default="~/.docker/config.json", min_length=1)


def built_references(settings: Settings, service: BuiltService) -> list[str]:
    """The tags a built service's image gets: the image references its settings name."""
    if service == "backup":
        return [settings.backup.image]
    tier = settings.frontend if service == "frontend" else settings.backend
    colors = [tier.blue, *([tier.green] if tier.green is not None else [])]
    return sorted({color.image for color in colors})


def image_problems(settings: Settings) -> list[tuple[str, str]]:
    """Rules that span several keys, as (key, reason)."""
    images = settings.images
    if len(set(images.build)) != len(images.build):
        return [("images.build", "lists a service twice")]
    if images.build and settings.environment not in BUILD_ENVIRONMENTS:
        return [
            (
                "images.build",
                f"images are built in development only; {settings.environment} runs pinned images from "
                "a registry (set each service's image to a tag or digest there)",
            )
        ]
    if images.base_image is not None and not images.build:
        return [("images.baseImage", "is the base of built images, and images.build lists none")]
    return []
