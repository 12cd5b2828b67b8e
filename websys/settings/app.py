"""Settings of the stateless application tiers (frontend and backend) and their deploy colors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from websys.settings.types import ImageReference, LogSize, Port, Section, UrlPath

Color = Literal["blue", "green"]
COLORS: tuple[Color, ...] = ("blue", "green")


class ColorSettings(Section):
    """One deploy color of a tier: the image it runs and how many replicas."""

    image: ImageReference
    replicas: int = Field(default=0, ge=0, le=500)


class ResourceLimits(Section):
    cpus: float = Field(default=0.5, gt=0, le=64)
    memory_mb: int = Field(default=512, ge=16, le=262_144)


class Healthcheck(Section):
    path: UrlPath = "/health"
    interval_seconds: int = Field(default=30, ge=1, le=3600)
    timeout_seconds: int = Field(default=10, ge=1, le=600)
    retries: int = Field(default=3, ge=1, le=100)
    start_period_seconds: int = Field(default=20, ge=0, le=3600)


class AppTierSettings(Section):
    """A stateless tier: two colors, a port, limits and a healthcheck."""

    port: Port
    blue: ColorSettings
    green: ColorSettings | None = None
    resources: ResourceLimits = ResourceLimits()
    healthcheck: Healthcheck = Healthcheck()
    # Official Node images ship the unprivileged user `node` as uid/gid 1000.
    user: str = Field(default="1000:1000", pattern=r"^[0-9]+(:[0-9]+)?$")
    read_only_root_filesystem: bool = True

    def color(self, color: Color) -> ColorSettings | None:
        return self.blue if color == "blue" else self.green

    def replicas(self, color: Color) -> int:
        settings = self.color(color)
        return 0 if settings is None else settings.replicas


class LoggingSettings(Section):
    """Rotation of Docker's json-file log driver, which otherwise grows without bound."""

    max_size: LogSize = "10m"
    max_files: int = Field(default=5, ge=1, le=100)


class DeploySettings(Section):
    active_color: Color = "blue"
