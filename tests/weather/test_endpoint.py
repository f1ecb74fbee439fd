"""``/weather`` through the shared App, driven by both runners in-process: same bytes either way.

The engines' own parity over real sockets is in tests/test_weather_parity.py; this pins the
endpoint, the effect and the error mapping without a server process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from tests.weather.support import fast_settings
from webduo.core.app import build_app
from webduo.core.effects import Runtime
from webduo.core.http import Headers, Request, Response
from webduo.core.routes import build_routes
from webduo.core.weather.client import AsyncWeatherClient, WeatherClient
from webduo.core.weather.models import Forecast, WeatherQuery, WeatherReport
from webduo.core.weather.recorded import recorded
from webduo.settings import Settings
from webduo.testing.openmeteo import FakeOpenMeteo


APP = build_app(build_routes(), "X-Powered-By", "webduo/test")


def answer_sync(settings: Settings, targets: list[str]) -> list[Response]:
    with WeatherClient(settings) as client:
        runtime = Runtime()
        runtime.provide(WeatherClient, client)
        return [APP.respond(_request(target), runtime) for target in targets]


def answer_async(settings: Settings, targets: list[str]) -> list[Response]:
    async def answer_all() -> list[Response]:
        async with AsyncWeatherClient(settings) as client:
            runtime = Runtime()
            runtime.provide(AsyncWeatherClient, client)
            return [await APP.arespond(_request(target), runtime) for target in targets]

    return asyncio.run(answer_all())


def _request(target: str) -> Request:
    path, _, query = target.partition("?")
    return Request("GET", path, query, Headers.of([("X-Request-ID", "fixed-id")]))


def both(fake: FakeOpenMeteo, targets: list[str], script: tuple[str, ...] = ()) -> list[Response]:
    """Each target answered by the sync runner, then the same by the async one; asserts they agree."""
    fake.state.script(*script)
    blocking = answer_sync(fast_settings(fake), targets)
    fake.state.script(*script)
    awaiting = answer_async(fast_settings(fake), targets)
    for one, other in zip(blocking, awaiting, strict=True):
        assert (one.status, one.body, one.headers.get("X-Cache")) == (
            other.status,
            other.body,
            other.headers.get("X-Cache"),
        )
    return blocking


def error_of(response: Response) -> dict[str, Any]:
    assert response.headers.get("Content-Type") == "application/json"
    error: dict[str, Any] = json.loads(response.body)["error"]
    assert (error["status"], error["request_id"]) == (response.status, "fixed-id")
    return error


def test_report_then_cache_hit(openmeteo: FakeOpenMeteo) -> None:
    first, second = both(openmeteo, ["/weather?lat=52.52&lon=13.41", "/weather?lat=52.52&lon=13.41"])
    assert (first.status, first.headers.get("X-Cache"), second.headers.get("X-Cache")) == (200, "MISS", "HIT")
    expected = WeatherReport.build(
        WeatherQuery.of(52.52, 13.41), Forecast.model_validate_json(recorded("openmeteo_current_example.json"))
    )
    assert json.loads(first.body) == expected.model_dump(mode="json")
    assert openmeteo.state.count() == 2  # one per runner


def test_imperial_report(openmeteo: FakeOpenMeteo) -> None:
    (response,) = both(openmeteo, ["/weather?lat=52.52&lon=13.41&units=imperial"])
    assert json.loads(response.body)["units"]["temperature"] == "°F"


@pytest.mark.parametrize(
    ("target", "locs"),
    [
        ("/weather", [["lat"], ["lon"]]),
        ("/weather?lat=91&lon=0", [["lat"]]),
        ("/weather?lat=1&lon=2&units=kelvin", [["units"]]),
        ("/weather?lat=abc&lon=" + "9" * 5000, [["lat"], ["lon"]]),
    ],
)
def test_invalid_query_is_a_422_with_field_errors(openmeteo: FakeOpenMeteo, target: str, locs: list[Any]) -> None:
    (response,) = both(openmeteo, [target])
    error = error_of(response)
    assert error["status"] == 422
    assert [item["loc"] for item in error["detail"]] == locs
    assert len(response.body) < 1000  # the huge input is not echoed
    assert openmeteo.state.count() == 0


@pytest.mark.parametrize(
    ("script", "status", "upstream_status", "attempts"),
    [
        (("503",) * 4, 502, 503, 4),
        (("html502",) * 4, 502, 502, 4),
        (("garbage",), 502, 200, 1),
        (("slow",), 504, None, 1),
    ],
)
def test_upstream_failures_map_to_gateway_errors(
    openmeteo: FakeOpenMeteo, script: tuple[str, ...], status: int, upstream_status: int | None, attempts: int
) -> None:
    openmeteo.state.script(slow_seconds=3.0)
    (response,) = both(openmeteo, ["/weather?lat=1&lon=2"], script)
    error = error_of(response)
    assert (error["status"], error["detail"]["upstream_status"], error["detail"]["attempts"]) == (
        status,
        upstream_status,
        attempts,
    )
    assert "X-Cache" not in response.headers


def test_each_query_and_report_is_logged(openmeteo: FakeOpenMeteo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="webduo.weather")
    answer_sync(fast_settings(openmeteo), ["/weather?lat=52.52&lon=13.41"])
    lines = [record.getMessage() for record in caplog.records if record.name == "webduo.weather"]
    assert lines[0] == "weather query fixed-id: lat=52.52 lon=13.41 units='metric'"
    assert lines[1].startswith("weather report fixed-id (MISS): place=None")
    assert "weather='Overcast'" in lines[1]
