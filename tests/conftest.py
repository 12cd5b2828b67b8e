from __future__ import annotations

import pytest

from tests.planning import committed_plan, plan_for
from websys.plan import Plan
from websys.settings import ENVIRONMENTS

# The engine tests' fixtures (a real Docker Engine and look-alike images): tests/engine/fixtures.py.
pytest_plugins = ["tests.engine.fixtures"]


@pytest.fixture(scope="session")
def stack_plans() -> dict[str, Plan]:
    """The recorded plan of each of the tests' stack files (tests/stacks), once per test session."""
    return {stack: plan_for(stack) for stack in ENVIRONMENTS}


@pytest.fixture(scope="session")
def committed_plans() -> dict[str, Plan]:
    """The recorded plan of each committed stack file: for the checks that must hold whatever an
    operator sets there (it loads, passes the policy pack, matches its snapshot)."""
    return {stack: committed_plan(stack) for stack in ENVIRONMENTS}
