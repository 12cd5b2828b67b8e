"""Start order: app containers wait for the data tier; their image pulls do not."""

from __future__ import annotations

import pytest

from tests.planning import REMOTE_IMAGE, containers, plan_for


@pytest.mark.parametrize("stack", ["production"])
def test_backend_images_are_pulled_without_waiting_for_the_database(stack: str) -> None:
    plan = plan_for(stack)
    servers = {plan.by_name("postgres-primary").urn, plan.by_name("redis-server").urn}
    images = [r for r in plan.of_type(REMOTE_IMAGE) if r.name.startswith("backend-")]
    assert images
    for image in images:
        assert not servers & set(image.dependencies), image.name
    for backend in containers(plan, "backend"):
        assert servers <= set(backend.dependencies)
