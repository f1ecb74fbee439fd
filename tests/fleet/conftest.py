"""The fleet the tests of this package share: started once, healed before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fleet.nginx import executable
from tests.fleet.support import Fleet
from tests.servers import ENGINES
from webduo.testing.openmeteo import FakeOpenMeteo


@pytest.fixture(scope="module")
def running_fleet(tmp_path_factory: pytest.TempPathFactory, fake_openmeteo: FakeOpenMeteo) -> Iterator[Fleet]:
    missing = [name for name in ("nginx", "redis-server") if executable(name) is None]
    if missing:
        message = f"the fleet test needs {' and '.join(missing)}: apt-get install nginx redis-server"
        if os.environ.get("CI"):  # .ci/run installs them: missing there is a broken CI, not a choice
            pytest.fail(message)
        pytest.skip(message)
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), fake_openmeteo)
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def fleet(running_fleet: Fleet, openmeteo: FakeOpenMeteo) -> Fleet:
    """The whole fleet, whatever the previous test crashed, with an empty cache and a fresh nginx."""
    running_fleet.heal()
    return running_fleet


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)
