from __future__ import annotations

import pytest

from tests.planning import plan_for
from websys.plan import Plan
from websys.settings import ENVIRONMENTS

# The engine tests' fixtures (a real Docker Engine and look-alike images): tests/engine/fixtures.py.
pytest_plugins = ["tests.engine.fixtures"]


@pytest.fixture(scope="session")
def stack_plans() -> dict[str, Plan]:
    """The recorded plan of each stack as committed, recorded once per test session."""
    return {stack: plan_for(stack) for stack in ENVIRONMENTS}
