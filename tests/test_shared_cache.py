"""The shared weather cache on a real redis-server, with real servers of both engines around it.

Redis starts empty and keeps nothing on disk; each test asks for its own coordinates and counts
the calls that reach the Open-Meteo stand-in. The fleet (one server per engine) is shared by
the tests that leave Redis running; the others start their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.redis_server import RunningRedis, run_redis
from tests.servers import ENGINES, RunningServer, run_server
from webduo.testing.openmeteo import FakeOpenMeteo


BURST = 100


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RunningRedis]:
    with run_redis(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def fleet_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRedis]:
    with run_redis(tmp_path_factory.mktemp("fleet-redis")) as running:
        yield running


def shared_env(server_env: dict[str, str], redis_server: RunningRedis, **settings: str) -> dict[str, str]:
    named = {f"WEBDUO_{name.upper()}": value for name, value in settings.items()}
    return {**server_env, "WEBDUO_CACHE_URL": redis_server.url, **named}


@pytest.fixture(scope="module")
def fleet(
    server_env: dict[str, str], fleet_redis: RunningRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RunningServer]]:
    """One server of each engine, sharing one Redis: the smallest fleet."""
    env = shared_env(server_env, fleet_redis)
    logs = tmp_path_factory.mktemp("fleet")
    with ExitStack() as stack:
        yield {
            engine: stack.enter_context(run_server(engine, logs, env, args=("--threads", "8"))) for engine in ENGINES
        }


async def burst(urls: list[str], params: dict[str, str], size: int = BURST) -> list[httpx.Response]:
    """``size`` identical requests at once, spread evenly over ``urls``."""
    limits = httpx.Limits(max_connections=size)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        requests = [http.get(f"{urls[i % len(urls)]}/weather", params=params) for i in range(size)]
        return await asyncio.gather(*requests)


def test_concurrent_misses_across_servers_make_one_upstream_call(
    fleet: dict[str, RunningServer], fleet_redis: RunningRedis, openmeteo: FakeOpenMeteo
) -> None:
    # Slow enough that every request misses while the one call is out, well within the read timeout.
    openmeteo.state.script(default="slow", slow_seconds=0.5)
    responses = asyncio.run(burst([server.base_url for server in fleet.values()], {"lat": "12.34", "lon": "56.78"}))
    assert [response.status_code for response in responses] == [200] * BURST
    assert len({response.content for response in responses}) == 1
    engines = {response.headers["x-powered-by"].split("(")[1].rstrip(")") for response in responses}
    waited = {response.headers["x-powered-by"] for response in responses if response.headers["x-cache"] == "MISS"}
    assert engines == set(ENGINES)
    assert len(waited) == 2, "one engine's requests did not overlap the call: nothing shared was tested"
    assert openmeteo.state.count() == 1
    stored = fleet_redis.client()
    assert stored.exists("webduo:v1:weather:12.34:56.78:metric")
    assert 590_000 < stored.pttl("webduo:v1:weather:12.34:56.78:metric") <= 600_000


def test_a_failed_call_is_handed_to_the_waiters_not_cached(
    fleet: dict[str, RunningServer], openmeteo: FakeOpenMeteo
) -> None:
    # Slower than the 1 s read timeout: the one call fails with a 504, which is not retried. As many
    # requests as the sync server has threads: more would wait for a thread, miss after the failure
    # and call again (a failure is not cached, here as within one process).
    openmeteo.state.script(default="slow", slow_seconds=3)
    urls = [server.base_url for server in fleet.values()]
    responses = asyncio.run(burst(urls, {"lat": "-12.34", "lon": "5.5"}, size=16))
    assert {response.status_code for response in responses} == {504}
    assert {response.json()["error"]["detail"]["attempts"] for response in responses} == {1}
    assert openmeteo.state.count() == 1
    openmeteo.state.script(default="ok")
    again = httpx.get(f"{fleet['sync'].base_url}/weather", params={"lat": "-12.34", "lon": "5.5"}, timeout=10)
    assert (again.status_code, again.headers["x-cache"]) == (200, "MISS")
    assert openmeteo.state.count() == 2


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_reports_expire_with_the_ttl(
    engine: str, server_env: dict[str, str], redis_server: RunningRedis, openmeteo: FakeOpenMeteo, tmp_path: Path
) -> None:
    env = shared_env(server_env, redis_server, weather_cache_ttl="1")
    key = "webduo:v1:weather:1.00:2.00:metric"
    with run_server(engine, tmp_path, env) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        params = {"lat": "1", "lon": "2"}
        assert http.get("/weather", params=params).headers["x-cache"] == "MISS"
        assert 0 < redis_server.client().pttl(key) <= 1000
        assert http.get("/weather", params=params).headers["x-cache"] == "HIT"
        deadline = time.monotonic() + 5
        while redis_server.client().exists(key):
            assert time.monotonic() < deadline, "the report outlived its TTL"
            time.sleep(0.05)
        assert http.get("/weather", params=params).headers["x-cache"] == "MISS"
    assert openmeteo.state.count() == 2


def test_redis_stopping_midway_falls_back_to_the_process_cache_with_one_warning(
    engine: str, server_env: dict[str, str], redis_server: RunningRedis, openmeteo: FakeOpenMeteo, tmp_path: Path
) -> None:
    env = shared_env(server_env, redis_server)
    with run_server(engine, tmp_path, env) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        before = http.get("/weather", params={"lat": "3", "lon": "4"})
        assert (before.status_code, before.headers["x-cache"]) == (200, "MISS")
        redis_server.stop()
        answers = [http.get("/weather", params={"lat": "3", "lon": "4"}) for _ in range(3)]
        answers += [http.get("/weather", params={"lat": "5", "lon": str(6 + i)}) for i in range(3)]
        assert [answer.status_code for answer in answers] == [200] * 6
        # Redis held the first report; the process's own cache starts empty, then serves.
        assert [answer.headers["x-cache"] for answer in answers] == ["MISS", "HIT", "HIT", "MISS", "MISS", "MISS"]
        assert answers[0].content == before.content
        metrics = http.get("/metrics").text
        warnings = [line for line in server.log_text().splitlines() if "WARNING" in line and "Redis" in line]
    assert len(warnings) == 1, warnings
    assert f"Redis at 127.0.0.1:{redis_server.port}/0 failed" in warnings[0]
    assert 'webduo_weather_cache_errors_total{layer="redis"} 1.0' in metrics
    assert 'webduo_weather_cache_hits_total{layer="memory"} 2.0' in metrics
    assert openmeteo.state.count() == 5
