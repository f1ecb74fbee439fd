"""Both clients against the stand-in over real loopback sockets: answers, failures, cache, single-flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.weather.support import fast_settings
from webduo.bench.processes import free_port
from webduo.core.weather.client import AsyncWeatherClient, Lookup, WeatherClient
from webduo.core.weather.errors import WeatherError
from webduo.core.weather.models import Place, WeatherQuery, WeatherReport
from webduo.core.weather.recorded import recorded
from webduo.settings import Settings
from webduo.testing.openmeteo import FakeOpenMeteo


BERLIN = WeatherQuery.of(52.52, 13.41)


def sync_current(settings: Settings, query: WeatherQuery) -> Lookup:
    with WeatherClient(settings) as client:
        return client.current(query)


def async_current(settings: Settings, query: WeatherQuery) -> Lookup:
    async def call() -> Lookup:
        async with AsyncWeatherClient(settings) as client:
            return await client.current(query)

    return asyncio.run(call())


Current = Callable[[Settings, WeatherQuery], Lookup]
CLIENTS = pytest.mark.parametrize("current", [sync_current, async_current], ids=["sync", "async"])


def failure_of(current: Current, settings: Settings, query: WeatherQuery = BERLIN) -> WeatherError:
    with pytest.raises(WeatherError) as caught:
        current(settings, query)
    return caught.value


@CLIENTS
def test_success_parses_the_recorded_answer(current: Current, openmeteo: FakeOpenMeteo) -> None:
    lookup = current(fast_settings(openmeteo), BERLIN)
    assert lookup.cache == "MISS"
    report = WeatherReport.build(BERLIN, lookup.forecast)
    assert (report.temperature, report.weather, report.grid.longitude) == (4.6, "Overcast", 13.419998)
    assert openmeteo.state.count() == 1


@CLIENTS
def test_imperial_asks_for_imperial_units(current: Current, openmeteo: FakeOpenMeteo) -> None:
    lookup = current(fast_settings(openmeteo), WeatherQuery.of(52.524, -13.4159, "imperial"))
    assert lookup.forecast.current_units["temperature_2m"] == "°F"
    assert openmeteo.state.last_query == {
        "latitude": "52.52",
        "longitude": "-13.42",
        "current": "temperature_2m,relative_humidity_2m,apparent_temperature,is_day,precipitation,weather_code,"
        "cloud_cover,pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m",
        "timezone": "auto",
        "temperature_unit": "fahrenheit",
        "wind_speed_unit": "mph",
        "precipitation_unit": "inch",
    }


@CLIENTS
def test_upstream_4xx_passes_its_reason_on_without_retry(current: Current, openmeteo: FakeOpenMeteo) -> None:
    # Our own validation would refuse 91, so build the query past it to see Open-Meteo's answer.
    north_of_the_pole = WeatherQuery.model_construct(lat=91.0, lon=0.0, units="metric")
    error = failure_of(current, fast_settings(openmeteo), north_of_the_pole)
    assert (error.status, error.upstream_status, error.attempts) == (502, 400, 1)
    assert error.reason == "Latitude must be in range of -90 to 90°. Given: 91.0."
    assert openmeteo.state.count() == 1


@CLIENTS
@pytest.mark.parametrize("transient", ["429", "503", "html502", "error200"])
def test_transient_failure_is_retried_then_succeeds(current: Current, openmeteo: FakeOpenMeteo, transient: str) -> None:
    openmeteo.state.script(transient, transient)
    assert current(fast_settings(openmeteo), BERLIN).cache == "MISS"
    assert openmeteo.state.count() == 3


@CLIENTS
@pytest.mark.parametrize(
    ("behaviour", "upstream_status", "reason"),
    [
        ("503", 503, "The service is overloaded"),
        ("429", 429, "Minutely API request limit exceeded. Please try again in one minute."),
        ("html502", 502, "Open-Meteo answered 502 without an error reason (text/html)"),
    ],
)
def test_retries_exhausted_is_a_502_after_every_attempt(
    current: Current, openmeteo: FakeOpenMeteo, behaviour: str, upstream_status: int, reason: str
) -> None:
    openmeteo.state.script(default=behaviour)
    error = failure_of(current, fast_settings(openmeteo))
    assert (error.status, error.upstream_status, error.reason, error.attempts) == (502, upstream_status, reason, 4)
    assert openmeteo.state.count() == 4


@CLIENTS
def test_garbage_is_a_502_without_retry(current: Current, openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script(default="garbage")
    error = failure_of(current, fast_settings(openmeteo))
    assert (error.status, error.upstream_status, error.attempts) == (502, 200, 1)


@CLIENTS
def test_slow_upstream_is_a_504_within_the_read_timeout(current: Current, openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script(default="slow", slow_seconds=3.0)
    started = time.monotonic()
    error = failure_of(current, fast_settings(openmeteo, weather_read_timeout=0.3))
    elapsed = time.monotonic() - started
    assert (error.status, error.upstream_status) == (504, None)
    assert "ReadTimeout" in error.reason
    assert elapsed < 2.0, elapsed


@CLIENTS
def test_unreachable_upstream_is_retried_then_a_502(current: Current) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/forecast"
    error = failure_of(current, Settings(weather_url=closed, weather_backoff=0.01))
    assert (error.status, error.upstream_status, error.attempts) == (502, None, 4)
    assert "ConnectError" in error.reason


def test_sync_cache_hit_makes_no_second_upstream_call(openmeteo: FakeOpenMeteo) -> None:
    with WeatherClient(fast_settings(openmeteo)) as client:
        assert client.current(BERLIN).cache == "MISS"
        # Rounded to the same 2-decimal cell: same key.
        assert client.current(WeatherQuery.of(52.5201, 13.4099)).cache == "HIT"
        assert client.current(WeatherQuery.of(52.52, 13.41, "imperial")).cache == "MISS"
    assert openmeteo.state.count() == 2


def test_cache_expires_after_the_ttl(openmeteo: FakeOpenMeteo) -> None:
    now = [0.0]
    settings = fast_settings(openmeteo, weather_cache_ttl=600)
    with WeatherClient(settings, clock=lambda: now[0] + time.monotonic()) as client:
        client.current(BERLIN)
        now[0] = 600.0
        assert client.current(BERLIN).cache == "MISS"
    assert openmeteo.state.count() == 2


def test_failures_are_not_cached(openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script("garbage")
    with WeatherClient(fast_settings(openmeteo)) as client:
        with pytest.raises(WeatherError):
            client.current(BERLIN)
        assert client.current(BERLIN).cache == "MISS"


async def test_async_cache_hit_makes_no_second_upstream_call(openmeteo: FakeOpenMeteo) -> None:
    async with AsyncWeatherClient(fast_settings(openmeteo)) as client:
        assert (await client.current(BERLIN)).cache == "MISS"
        assert (await client.current(BERLIN)).cache == "HIT"
    assert openmeteo.state.count() == 1


async def test_concurrent_identical_misses_share_one_upstream_call(openmeteo: FakeOpenMeteo) -> None:
    async with AsyncWeatherClient(fast_settings(openmeteo)) as client:
        lookups = await asyncio.gather(*(client.current(BERLIN) for _ in range(50)))
    assert {lookup.cache for lookup in lookups} == {"MISS"}
    assert len({id(lookup.forecast) for lookup in lookups}) == 1
    assert openmeteo.state.count() == 1


async def test_concurrent_misses_share_one_failure_too(openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script(default="503")
    async with AsyncWeatherClient(fast_settings(openmeteo)) as client:
        outcomes = await asyncio.gather(*(client.current(BERLIN) for _ in range(50)), return_exceptions=True)
    assert all(isinstance(outcome, WeatherError) and outcome.status == 502 for outcome in outcomes)
    assert openmeteo.state.count() == 4  # one call and its three retries, not fifty


def test_concurrent_identical_misses_in_threads_share_one_upstream_call(openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script("slow", slow_seconds=0.3)  # long enough for every thread to miss meanwhile
    with WeatherClient(fast_settings(openmeteo)) as client, ThreadPoolExecutor(50) as threads:
        lookups = list(threads.map(lambda _: client.current(BERLIN), range(50)))
    assert len({id(lookup.forecast) for lookup in lookups}) == 1
    assert openmeteo.state.count() == 1


def test_concurrent_misses_in_threads_share_one_failure_too(openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script(default="slow", slow_seconds=2.0)
    settings = fast_settings(openmeteo, weather_read_timeout=0.3, weather_retries=0)

    def outcome(client: WeatherClient) -> WeatherError | Lookup:
        try:
            return client.current(BERLIN)
        except WeatherError as exc:
            return exc

    with WeatherClient(settings) as client, ThreadPoolExecutor(50) as threads:
        outcomes = list(threads.map(lambda _: outcome(client), range(50)))
    assert {outcome.status for outcome in outcomes if isinstance(outcome, WeatherError)} == {504}
    assert len({id(outcome) for outcome in outcomes}) == 1  # the one call's failure, shared
    assert openmeteo.state.count() == 1


async def test_distinct_misses_reach_upstream_one_at_a_time(openmeteo: FakeOpenMeteo) -> None:
    # The free tier serves one request per IP at a time: a process never fans out.
    openmeteo.state.script(*["slow"] * 5, slow_seconds=0.05)
    async with AsyncWeatherClient(fast_settings(openmeteo)) as client:
        places = [WeatherQuery.of(10 + n, 20) for n in range(5)]
        lookups = await asyncio.gather(*(client.current(place) for place in places))
    assert [lookup.cache for lookup in lookups] == ["MISS"] * 5
    assert (openmeteo.state.count(), openmeteo.state.most_in_flight) == (5, 1)


async def test_a_cancelled_waiter_does_not_cancel_the_shared_call(openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script("slow", slow_seconds=0.2)
    async with AsyncWeatherClient(fast_settings(openmeteo)) as client:
        impatient = asyncio.ensure_future(client.current(BERLIN))
        patient = asyncio.ensure_future(client.current(BERLIN))
        await asyncio.sleep(0.05)
        impatient.cancel()
        assert (await patient).cache == "MISS"
    assert openmeteo.state.count() == 1


def search_with(kind: str, settings: Settings, **kwargs: Any) -> list[Place]:
    if kind == "sync":
        with WeatherClient(settings) as client:
            return client.search(**kwargs)

    async def call() -> list[Place]:
        async with AsyncWeatherClient(settings) as client:
            return await client.search(**kwargs)

    return asyncio.run(call())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_geocoding_search(kind: str, openmeteo: FakeOpenMeteo) -> None:
    settings = fast_settings(openmeteo)
    assert [p.country_code for p in search_with(kind, settings, name="Berlin")] == ["DE", "US"]
    assert [p.country_code for p in search_with(kind, settings, name="berlin", country="us")] == ["US"]
    assert openmeteo.state.last_query == {
        "name": "berlin",
        "count": "10",
        "language": "en",
        "format": "json",
        "countryCode": "US",
    }
    assert search_with(kind, settings, name="Atlantis") == []
    with pytest.raises(WeatherError, match="count must be between 1 and 100") as caught:
        search_with(kind, settings, name="Berlin", count=0)
    assert caught.value.upstream_status == 400


def test_stand_in_serves_recorded_bytes_and_validates_like_the_real_one(openmeteo: FakeOpenMeteo) -> None:
    with httpx.Client(base_url=openmeteo.base_url) as http:
        metric = http.get("/v1/forecast", params={"latitude": 52.52, "longitude": 13.41, "current": "temperature_2m"})
        assert metric.content == recorded("openmeteo_current_example.json")
        assert metric.headers["content-type"] == "application/json; charset=utf-8"
        imperial = http.get("/v1/forecast?latitude=1&longitude=2&temperature_unit=fahrenheit")
        assert imperial.content == recorded("openmeteo_current_example_tz_imperial.json")
        legacy = http.get("/v1/forecast?latitude=1&longitude=2&current_weather=true&current=temperature_2m")
        assert legacy.content == recorded("openmeteo_current_weather_legacy_example.json")
        north = http.get("/v1/forecast?latitude=91&longitude=0")
        assert (north.status_code, north.content) == (400, recorded("openmeteo_error_400_latitude.json"))
        unknown = http.get("/v1/forecast?latitude=1&longitude=2&current=temperature_2m,not_a_real_variable")
        assert (unknown.status_code, unknown.content) == (400, recorded("openmeteo_error_400_invalid_variable.json"))
        found = http.get("/v1/search?name=Berlin&count=2")
        assert found.content == recorded("geocoding_search_example.json")
        assert http.get("/v1/search?name=Nowhere").content == recorded("geocoding_search_no_results_example.json")
        too_many = http.get("/v1/search?name=Berlin&count=101")
        assert (too_many.status_code, too_many.content) == (400, recorded("geocoding_error_400_count.json"))
        assert http.get("/_fake/stats").json() == {"forecast": 5, "search": 3, "most_in_flight": 1}


def test_stand_in_is_scriptable_over_http(openmeteo: FakeOpenMeteo) -> None:
    with httpx.Client(base_url=openmeteo.base_url) as http:
        assert http.post("/_fake/script", json={"script": ["429", "html502"]}).status_code == 204
        too_many = http.get("/v1/forecast?latitude=1&longitude=2")
        assert (too_many.status_code, too_many.content) == (429, recorded("openmeteo_error_429_minutely.json"))
        outage = http.get("/v1/forecast?latitude=1&longitude=2")
        assert (outage.status_code, outage.headers["content-type"]) == (502, "text/html")
        assert http.get("/v1/forecast?latitude=1&longitude=2").status_code == 200
        assert http.post("/_fake/script", json={"script": ["teapot"]}).status_code == 400
        assert http.post("/_fake/script", content=b"not json").status_code == 400
        assert http.post("/_fake/script", json=["503"]).status_code == 400
        assert http.post("/_fake/reset").status_code == 204
        assert http.get("/_fake/stats").json() == {"forecast": 0, "search": 0, "most_in_flight": 0}
