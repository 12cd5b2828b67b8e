"""pytest fixtures of the engine tests: the engine of this run and its look-alike images.

`make test` provides the engine (scripts/test-engine.sh, WEBSYS_TEST_ENGINE); a test file run on
its own starts one for its session and stops it afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.engine import images
from tests.engine.daemon import ENV_VAR, Engine, acquire, stop_engine


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    provided = os.environ.get(ENV_VAR)
    found = acquire()
    try:
        yield found
    finally:
        if not provided:
            stop_engine(found)


class LookalikeImages:
    """Look-alike image tags on one engine, built once each (threads of a test share them)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tags: dict[str, str] = {}
        self._aliases: set[str] = set()
        self._lock = threading.Lock()
        self.overrides: dict[str, str] = {}  # an image a plan names -> a local tag made by a test

    def tag(self, lookalike: str) -> str:
        with self._lock:
            if lookalike not in self._tags:
                self._tags[lookalike] = images.build_image(self.engine, lookalike)
            return self._tags[lookalike]

    def for_image(self, image: str) -> str:
        """The tag standing for an image a plan names: the look-alike, tagged with the plan's tag too,
        so that a new tag in the plan is a new image reference on the engine (a rolling update)."""
        reference = image.split("@", 1)[0]  # a digest pin names the registry's image: no use here
        if reference in self.overrides:
            return self.overrides[reference]
        tag = self.tag(images.lookalike_for(image))
        alias = f"{tag}-{images.plan_tag(image)}"
        with self._lock:
            if alias not in self._aliases:
                self.engine.docker("tag", tag, alias)
                self._aliases.add(alias)
        return alias

    @property
    def resolver(self) -> Callable[[str], str]:
        return self.for_image


@pytest.fixture(scope="session")
def lookalikes(engine: Engine) -> LookalikeImages:
    return LookalikeImages(engine)
