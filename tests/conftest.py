"""Fixtures every behaviour test shares: one real server per engine, started once per session.

Under pytest-xdist (make pytest) a session is one worker's: each starts its own servers and
stand-in, marks its own children and checks that none of them is left.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from multiprocessing import resource_tracker
from pathlib import Path

import httpx
import pytest

from tests.processes import HAS_PROC, carrying, command_line, kill_all, survivors
from tests.servers import ENGINES, RunningServer, run_server
from tests.weather.support import SLOW_SECONDS, fast_env
from webduo.testing.openmeteo import FakeOpenMeteo


SESSION_MARK = "WEBDUO_TESTS_SESSION"
# Time for the last processes to finish stopping: a pool process notices its server's death within 0.5 s.
LEFTOVER_GRACE_SECONDS = 5.0


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fail the session if any process it started, however deep, outlives it; and kill those.

    Every child inherits a mark in its environment, so even one adopted by init after its
    parent died is found. Autouse at session scope: set up first, so checked last.
    """
    mark = uuid.uuid4().hex
    os.environ[SESSION_MARK] = mark
    yield
    if not HAS_PROC:
        return
    # Tests that open a CPU pool in-process start this process's resource tracker; it ends with us.
    tracker = getattr(resource_tracker._resource_tracker, "_pid", None)
    left = survivors(carrying(SESSION_MARK, mark) - {os.getpid(), tracker}, LEFTOVER_GRACE_SECONDS)
    commands = {pid: command_line(pid) for pid in left}
    kill_all(left)
    assert not left, f"the tests left these processes running (now killed): {commands}"


@pytest.fixture(scope="session")
def fake_openmeteo() -> Iterator[FakeOpenMeteo]:
    """The local Open-Meteo stand-in, on a thread of this process, for the whole session."""
    with FakeOpenMeteo() as fake:
        yield fake


@pytest.fixture
def openmeteo(fake_openmeteo: FakeOpenMeteo) -> FakeOpenMeteo:
    """The stand-in, answering normally with its request counts at zero."""
    fake_openmeteo.state.reset()
    fake_openmeteo.state.script(slow_seconds=SLOW_SECONDS)
    return fake_openmeteo


@pytest.fixture(scope="session")
def server_env(fake_openmeteo: FakeOpenMeteo) -> dict[str, str]:
    """Environment for the session's servers; small limits keep the limit tests cheap.

    Both engines call the stand-in with short timeouts and backoff, so failure tests stay fast.
    """
    return {"WEBDUO_LOG_LEVEL": "INFO", "WEBDUO_MAX_BODY_SIZE": str(64 * 1024), **fast_env(fake_openmeteo)}


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def servers(server_env: dict[str, str], server_logs: Path) -> Iterator[dict[str, RunningServer]]:
    """Both engines, started once for the whole session (each takes ~0.5 s to boot)."""
    with run_server("sync", server_logs, server_env) as sync, run_server("async", server_logs, server_env) as aio:
        yield {"sync": sync, "async": aio}


@pytest.fixture(params=ENGINES)
def server(request: pytest.FixtureRequest, servers: dict[str, RunningServer]) -> RunningServer:
    """The same test, once against each engine."""
    running = servers[request.param]
    assert running.process.poll() is None, f"{running.engine} server died:\n{running.log_text()}"
    return running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        yield http
