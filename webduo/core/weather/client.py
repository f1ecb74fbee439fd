"""The Open-Meteo client: requests built once, answers parsed once, sent by blocking or awaiting.

:class:`WeatherClient` (``httpx.Client``) serves the sync engine and the CLI,
:class:`AsyncWeatherClient` (``httpx.AsyncClient``) the aiohttp engine. Everything but the
sending lives in :class:`_WeatherClientBase`, :mod:`~webduo.core.weather.retry` and
:mod:`~webduo.core.weather.shared_cache`: a lookup is one flow of steps, and each client only
performs them — an upstream request, a pause, a Redis command — by blocking or by awaiting.

Each process keeps one client with a single upstream connection: Open-Meteo's free tier
serves one request at a time per IP and queues or refuses the rest, so calls are never fanned
out in parallel; waiting for that connection counts against the total timeout.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import httpx

from webduo import __version__
from webduo.core.metrics import Metrics
from webduo.core.weather.cache import Lookup, SingleFlight, TTLCache
from webduo.core.weather.models import UNIT_PARAMETERS, Forecast, GeocodingAnswer, Place, WeatherQuery
from webduo.core.weather.retry import Pause, Plan, RetryPolicy
from webduo.core.weather.shared_cache import Command, Flow, SharedCache, Step, Unreachable, failures, redacted
from webduo.settings import Settings


if TYPE_CHECKING:
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis


logger = logging.getLogger("webduo.weather")

T = TypeVar("T")
__all__ = ["AsyncWeatherClient", "Lookup", "WeatherClient"]

# Everything the report shows, asked in one call.
CURRENT_VARIABLES: Final = (
    "temperature_2m",
    "relative_humidity_2m",
    "apparent_temperature",
    "is_day",
    "precipitation",
    "weather_code",
    "cloud_cover",
    "pressure_msl",
    "wind_speed_10m",
    "wind_direction_10m",
    "wind_gusts_10m",
)


class _WeatherClientBase:
    """Request building, answer parsing, caching and counting: the part both clients share."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        shared: bool = False,
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.cache: TTLCache[WeatherQuery, Forecast] = TTLCache(settings.weather_cache_ttl, clock=clock)
        self.metrics = metrics
        # A TTL of 0 turns caching off, the shared cache's too; single-flight stays.
        self.shared = (
            SharedCache(
                redacted(settings.cache_url or ""),
                ttl=settings.weather_cache_ttl,
                decimals=settings.weather_coordinate_decimals,
                budget=settings.weather_total_timeout,
                metrics=metrics,
                clock=clock,
            )
            if shared and settings.weather_cache_ttl > 0
            else None
        )
        # What a Redis command raises when Redis cannot answer (redis-py is imported only when used).
        self._redis_failures = failures() if shared else ()
        self._clock = clock
        self._rng = random.Random()  # noqa: S311 - backoff jitter, not cryptography

    @staticmethod
    def http_options(settings: Settings) -> dict[str, Any]:
        """Options for the ``httpx`` client: one connection, explicit timeouts, no redirects."""
        return {
            "timeout": RetryPolicy.from_settings(settings).timeout_within(settings.weather_total_timeout),
            "limits": httpx.Limits(max_connections=1, max_keepalive_connections=1),
            "headers": {"User-Agent": f"webduo/{__version__}", "Accept": "application/json"},
            "follow_redirects": False,
        }

    def cache_key(self, query: WeatherQuery) -> WeatherQuery:
        return query.rounded(self.settings.weather_coordinate_decimals)

    def cached(self, query: WeatherQuery) -> Lookup | None:
        """A hit in the in-process cache, when that is the cache in use (no Redis, or Redis down)."""
        if self.shared is not None and self.shared.usable():
            return None
        forecast = self.cache.get(self.cache_key(query))
        return None if forecast is None else Lookup(forecast, "HIT")

    def lookup(self, query: WeatherQuery) -> Flow[Lookup]:
        """Current conditions for ``query`` as steps: from Redis while it answers, else from this process."""
        if self.shared is not None and self.shared.usable():
            found = yield from self.shared.lookup(self.cache_key(query), lambda: self.forecast_plan(query).steps)
            if found is not None:
                return found
        # Checked again: another thread's flight may have landed between our miss and our boarding.
        return self.cached(query) or self.remember(query, (yield from self.forecast_plan(query).steps))

    def counted(self, lookup: Lookup) -> Lookup:
        """``lookup``, counted as a hit or a miss of the cache that answered it."""
        if self.metrics is not None:
            self.metrics.weather_lookup(lookup.layer, lookup.cache == "HIT")
        return lookup

    def sending(self) -> None:
        """Count a request about to go upstream."""
        if self.metrics is not None:
            self.metrics.upstream_calls.inc()

    def forecast_plan(self, query: WeatherQuery) -> Plan[Forecast]:
        """The call for ``query``'s current conditions, asked at the rounded (cached) coordinates."""
        key = self.cache_key(query)
        decimals = self.settings.weather_coordinate_decimals
        params = [
            # Fixed-point: str() would write 1e-05, which is not how Open-Meteo documents numbers.
            ("latitude", f"{key.lat:.{decimals}f}"),
            ("longitude", f"{key.lon:.{decimals}f}"),
            ("current", ",".join(CURRENT_VARIABLES)),
            ("timezone", "auto"),
            *UNIT_PARAMETERS[key.units],
        ]
        return self._plan(self.settings.weather_url, params, Forecast.model_validate_json)

    def geocoding_plan(self, name: str, count: int, country: str | None) -> Plan[GeocodingAnswer]:
        params = [("name", name), ("count", str(count)), ("language", "en"), ("format", "json")]
        if country:
            params.append(("countryCode", country.upper()))
        return self._plan(self.settings.geocoding_url, params, GeocodingAnswer.model_validate_json)

    def _plan(self, url: str, params: list[tuple[str, str]], parse: Callable[[bytes], T]) -> Plan[T]:
        def build(timeout: httpx.Timeout) -> httpx.Request:
            return self._http.build_request("GET", url, params=tuple(params), timeout=timeout)

        return Plan(build, parse, self.policy, clock=self._clock, rng=self._rng)

    def remember(self, query: WeatherQuery, forecast: Forecast) -> Lookup:
        self.cache.put(self.cache_key(query), forecast)
        return Lookup(forecast, "MISS")

    @property
    def _http(self) -> httpx.Client | httpx.AsyncClient:
        raise NotImplementedError


class WeatherClient(_WeatherClientBase):
    """The blocking client: the sync engine's (one per worker process, shared by its threads) and
    the CLI's; concurrent misses for one key share a single upstream call."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        redis: Redis | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, metrics=metrics, shared=redis is not None)
        self._client = httpx.Client(**self.http_options(settings))
        self._flights: SingleFlight[WeatherQuery, Future[Lookup]] = SingleFlight()
        self._redis = redis

    @property
    def _http(self) -> httpx.Client:
        return self._client

    def current(self, query: WeatherQuery) -> Lookup:
        """Current conditions for ``query``: from a cache, or from the one call in flight for it."""
        found = self.cached(query)
        if found is None:
            mine: Future[Lookup] = Future()
            flight = self._flights.board(self.cache_key(query), lambda: mine)
            if flight is mine:
                try:
                    mine.set_result(self._drive(self.lookup(query)))
                except BaseException as exc:
                    # Whatever ends the call must land the flight, or the threads waiting on it wait for good.
                    mine.set_exception(exc)
            found = flight.result()
        return self.counted(found)

    def search(self, name: str, count: int = 10, country: str | None = None) -> list[Place]:
        """Places called ``name`` (optionally in ISO country ``country``), best match first."""
        return self._drive(self.geocoding_plan(name, count, country).steps).results

    def _drive(self, flow: Flow[T]) -> T:
        try:
            step = flow.send(None)
            while True:
                step = flow.send(self._perform(step))
        except StopIteration as done:
            return cast(T, done.value)

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Command):
            try:
                return cast("Redis", self._redis).execute_command(*step.args)
            except self._redis_failures as failure:
                return Unreachable(failure)
        self.sending()
        try:
            return self._client.send(step.request)
        except httpx.TransportError as failure:
            return failure

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WeatherClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncWeatherClient(_WeatherClientBase):
    """The aiohttp engine's client; concurrent misses for one key share a single upstream call."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        redis: AsyncRedis | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, metrics=metrics, shared=redis is not None)
        self._client = httpx.AsyncClient(**self.http_options(settings))
        self._flights: SingleFlight[WeatherQuery, asyncio.Future[Lookup]] = SingleFlight()
        self._redis = redis

    @property
    def _http(self) -> httpx.AsyncClient:
        return self._client

    async def current(self, query: WeatherQuery) -> Lookup:
        """Current conditions for ``query``: from a cache, or from the one call in flight for it."""
        found = self.cached(query)
        if found is None:
            flight = self._flights.board(
                self.cache_key(query), lambda: asyncio.ensure_future(self._drive(self.lookup(query)))
            )
            # shield: one caller giving up (client gone) must not cancel the call the others wait for.
            found = await asyncio.shield(flight)
        return self.counted(found)

    async def search(self, name: str, count: int = 10, country: str | None = None) -> list[Place]:
        """Places called ``name`` (optionally in ISO country ``country``), best match first."""
        return (await self._drive(self.geocoding_plan(name, count, country).steps)).results

    async def _drive(self, flow: Flow[T]) -> T:
        try:
            step = flow.send(None)
            while True:
                step = flow.send(await self._perform(step))
        except StopIteration as done:
            return cast(T, done.value)

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, Command):
            try:
                return await cast("AsyncRedis", self._redis).execute_command(*step.args)
            except self._redis_failures as failure:
                return Unreachable(failure)
        self.sending()
        try:
            return await self._client.send(step.request)
        except httpx.TransportError as failure:
            return failure

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncWeatherClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
