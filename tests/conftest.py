"""Fixtures every behaviour test shares: one real server per engine, started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ENGINES, RunningServer, run_server


@pytest.fixture(scope="session")
def server_env() -> dict[str, str]:
    """Environment for the session's servers; small limits keep the limit tests cheap."""
    return {"WEBDUO_LOG_LEVEL": "INFO", "WEBDUO_MAX_BODY_SIZE": str(64 * 1024)}


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
