"""Single-flight on real servers: a burst of identical /weather misses makes one upstream call.

The sync engine runs with eight threads, each of which can miss at once; the async engine
with one loop on which all the requests wait together. The stand-in answers slowly, so the
requests really overlap, and counts the calls it gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ENGINES, RunningServer, run_server
from webduo.testing.openmeteo import FakeOpenMeteo


BURST = 64


@pytest.fixture(params=ENGINES)
def threaded_server(
    request: pytest.FixtureRequest, server_env: dict[str, str], tmp_path: Path
) -> Iterator[RunningServer]:
    with run_server(request.param, tmp_path, server_env, args=("--threads", "8")) as running:
        yield running


async def burst(base_url: str, params: dict[str, str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        return await asyncio.gather(*(http.get("/weather", params=params) for _ in range(BURST)))


def test_concurrent_identical_misses_make_one_upstream_call(
    threaded_server: RunningServer, openmeteo: FakeOpenMeteo
) -> None:
    # Below the servers' 1 s read timeout, long enough for every thread (or waiter) to miss meanwhile.
    openmeteo.state.script(default="slow", slow_seconds=0.5)
    responses = asyncio.run(burst(threaded_server.base_url, {"lat": "12.34", "lon": "56.78"}))
    assert [response.status_code for response in responses] == [200] * BURST
    assert len({response.content for response in responses}) == 1
    waited_for_the_call = sum(response.headers["x-cache"] == "MISS" for response in responses)
    assert waited_for_the_call > 1, "the requests did not overlap: nothing was tested"
    assert openmeteo.state.count() == 1
