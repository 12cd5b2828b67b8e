from __future__ import annotations

import pytest

from tests.planning import plan_for
from websys.plan import Plan
from websys.settings import ENVIRONMENTS


@pytest.fixture(scope="session")
def stack_plans() -> dict[str, Plan]:
    """The recorded plan of each stack as committed, recorded once per test session."""
    return {stack: plan_for(stack) for stack in ENVIRONMENTS}
