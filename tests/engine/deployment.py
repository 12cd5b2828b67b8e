"""A recorded plan applied on the engine for the tests of one stack, removed afterwards."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tests.engine import build
from tests.engine.applier import CONTAINER, LOCAL_COMMAND, Applier
from tests.engine.daemon import Engine
from tests.engine.fixtures import LookalikeImages
from tests.engine.plans import EnginePlan, engine_plan, stack_config
from websys.plan import PlannedResource


@dataclass
class Deployment:
    engine: Engine
    applier: Applier
    stack: str

    @property
    def plan(self) -> EnginePlan:
        return self.applier.plan

    def containers(self) -> list[PlannedResource]:
        return self.plan.plan.of_type(CONTAINER)

    def find(self, name: str, type_: str = CONTAINER) -> PlannedResource:
        return self.plan.resource(name, type_)

    def inputs(self, name: str) -> dict[str, Any]:
        """A container's inputs, secrets revealed."""
        return self.plan.inputs[self.find(name).urn]

    def container_name(self, resource_name: str) -> str:
        return str(self.inputs(resource_name)["name"])

    def command_inputs(self, name: str) -> dict[str, Any]:
        return self.plan.inputs[self.find(name, LOCAL_COMMAND).urn]

    def exec(self, resource_name: str, *argv: str, timeout: float = 60) -> str:
        return self.engine.docker("exec", self.container_name(resource_name), *argv, timeout=timeout).stdout

    def state(self, resource_name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(
            self.engine.docker("inspect", self.container_name(resource_name)).stdout
        )
        return found[0]


def replan(engine: Engine, stack: str, sets: Sequence[str], secrets: Sequence[str]) -> EnginePlan:
    return engine_plan(stack, stack_config(stack, [f"docker.host={engine.host}", *sets], secrets))


@contextlib.contextmanager
def deployed(
    engine: Engine,
    lookalikes: LookalikeImages,
    stack: str,
    sets: Sequence[str],
    secrets: Sequence[str],
    *,
    build_images: bool = False,
) -> Iterator[Deployment]:
    """The stack's plan (docker.host set to the engine; `sets` and `secrets` on top) applied; with
    `build_images`, the plan's own images are built from the repository's Dockerfiles."""
    builder = functools.partial(build.build, engine) if build_images else None
    applier = Applier(engine, replan(engine, stack, sets, secrets), lookalikes.for_image, builder=builder)
    try:
        applier.apply()
        yield Deployment(engine, applier, stack)
    finally:
        applier.destroy()
