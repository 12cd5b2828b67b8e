"""Images built from the repository's Dockerfiles (development): the reference app and the backup job.

Each build is a pulumi-docker-build `Image` loaded into the stack's Docker daemon under the tag its
service's settings name, then read back by a `RemoteImage` of that tag, whose `image_id` is what
containers run. A container whose image is an id, not a name, is replaced only when the content
changes (pulumi-docker#325); the build's context hash decides whether anything is rebuilt, and its
`digest` is the RemoteImage's trigger, so a rebuild reads the new id and nothing else moves.

Why a RemoteImage after the build: the build's `digest` is the exporter's digest, which is not the
id the daemon knows on every image store, and its `ref` gains an `@digest` for fully qualified tags,
which a daemon that never pushed the image cannot inspect (pulumi-docker-build,
provider/internal/image.go: Create). The RemoteImage looks the tag up in the daemon first and pulls
only what it does not find (terraform-provider-docker, resource_docker_image_funcs.go: findImage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_docker_build as docker_build

from websys.settings.images import DOCKERFILES, BuiltService, ImageBuildSettings


@dataclass(frozen=True)
class BuiltImagesArgs:
    settings: ImageBuildSettings
    tags: Mapping[BuiltService, list[str]]  # each built service's image references (its settings)
    docker_host: str


class BuiltImages(pulumi.ComponentResource):
    """Builds each listed service's image; `image_ids[reference]` is the id a container runs."""

    image_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: BuiltImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("websys:images:BuiltImages", name, None, opts)
        # The builder talks to the same daemon the containers run on, so the loaded image is there.
        builder = docker_build.Provider(
            f"{name}-builder", host=args.docker_host, opts=pulumi.ResourceOptions(parent=self)
        )
        build_args = {"BASE_IMAGE": args.settings.base_image} if args.settings.base_image else None
        self.image_ids = {}
        self.builds: dict[BuiltService, docker_build.Image] = {}
        for service in args.settings.build:
            dockerfile, context = DOCKERFILES[service]
            tags = list(args.tags[service])
            build = docker_build.Image(
                f"{name}-{service}",
                # Paths relative to the project directory, where `pulumi up` runs the program.
                context=docker_build.BuildContextArgs(location=context),
                dockerfile=docker_build.DockerfileArgs(location=dockerfile),
                build_args=build_args,
                tags=tags,
                # Into the daemon's image store, never to a registry: development images stay local.
                exports=[docker_build.ExportArgs(docker=docker_build.ExportDockerArgs())],
                push=False,
                opts=pulumi.ResourceOptions(parent=self, provider=builder),
            )
            self.builds[service] = build
            for tag in tags:
                image = docker.RemoteImage(
                    f"{name}-{service}-{tag.rsplit(':', 1)[-1]}" if len(tags) > 1 else f"{name}-{service}-image",
                    name=tag,
                    keep_locally=True,  # the next build replaces the tag; old ids go with `docker image prune`
                    triggers={"digest": build.digest},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[build]),
                )
                self.image_ids[tag] = image.image_id
        self.register_outputs({"image_ids": self.image_ids})
