"""Session fixtures, and the guard that keeps tests off the operators' data.

Tests own their fixtures: a test may read the committed `Pulumi.<stack>.yaml` or `plans/*.json`
only if it is marked `committed` (it checks what must hold for any operator's values: the stacks
load, pass the policy pack, match their snapshots). Every file a test process opens is seen by an
audit hook (PEP 578), and `tests.planning.run_websys` refuses a `plan`/`render`/`policy` of a
committed stack without `--stack-file`; a test that is not marked and reads them anyway fails.
So only tests marked `committed` can depend on the committed values, and tests/test_fork.py
re-runs exactly those on a copy of the repository whose stack files say something else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import planning
from tests.planning import committed_plan, plan_for
from websys.plan import PROJECT_DIR, Plan
from websys.settings import ENVIRONMENTS, stack_file_name

COMMITTED = {str(PROJECT_DIR / stack_file_name(stack)) for stack in ENVIRONMENTS}
SNAPSHOTS = str(PROJECT_DIR / "plans") + "/"
_reads: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and not planning.committed_allowed and isinstance(args[0], (str, Path)):
        path = str(args[0])
        if path in COMMITTED or (path.startswith(SNAPSHOTS) and path.endswith(".json")):
            _reads.append(path)


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def _operators_data_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    planning.committed_allowed = request.node.get_closest_marker("committed") is not None
    _reads.clear()
    yield
    planning.committed_allowed = True  # session fixtures torn down later may read them
    read, _reads[:] = sorted(set(_reads)), []
    assert read == [], f"reads the committed stack files or plans without @pytest.mark.committed: {read}"


# The files that take longest start first (`make test` runs pytest-xdist with --dist loadfile and
# --no-loadscope-reorder, so a file's place here is the order its worker gets it): otherwise the
# engine files, with few tests each, are handed out last and run alone at the end. Seconds per
# file, summed from --durations=0 with 4 workers on 2 cores (2026-12-01): 423, 224, 238, 133, 40.
LONGEST_FIRST = (
    "test_engine_host.py",
    "test_engine_swarm.py",
    "test_policy.py",
    "test_backup_signals.py",
    "test_engine_grafana.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def place(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=place)  # stable: the rest keep their collection order


# The engine tests' fixtures (a real Docker Engine and look-alike images): tests/engine/fixtures.py.
pytest_plugins = ["tests.engine.fixtures"]


@pytest.fixture(scope="session")
def stack_plans() -> dict[str, Plan]:
    """The recorded plan of each of the tests' stack files (tests/stacks), once per test session."""
    return {stack: plan_for(stack) for stack in ENVIRONMENTS}


@pytest.fixture(scope="session")
def committed_plans() -> dict[str, Plan]:
    """The recorded plan of each committed stack file: for tests marked `committed` only."""
    allowed, planning.committed_allowed = planning.committed_allowed, True
    plans: dict[str, Plan] = {stack: committed_plan(stack) for stack in ENVIRONMENTS}
    planning.committed_allowed = allowed
    return plans
