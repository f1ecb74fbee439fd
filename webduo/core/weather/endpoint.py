"""``GET /weather``: written once, waiting through :class:`FetchWeather` on either engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from webduo.core.effects import Effect, EndpointResult, Runtime, perform
from webduo.core.http import HTTPError, Request, Response
from webduo.core.query import parse_query
from webduo.core.weather.client import AsyncWeatherClient, Lookup, WeatherClient
from webduo.core.weather.errors import WeatherError
from webduo.core.weather.models import WeatherQuery, WeatherReport


logger = logging.getLogger("webduo.weather")


@dataclass(frozen=True, slots=True)
class FetchWeather(Effect[Lookup]):
    """Current conditions for ``query`` from the process's weather client (blocking or async)."""

    query: WeatherQuery

    def run_sync(self, runtime: Runtime) -> Lookup:
        return runtime.get(WeatherClient).current(self.query)

    async def run_async(self, runtime: Runtime) -> Lookup:
        return await runtime.get(AsyncWeatherClient).current(self.query)


def weather(request: Request) -> EndpointResult:
    """Report the current weather at ``lat``, ``lon`` from Open-Meteo, cached (``X-Cache: HIT|MISS``).

    Transient upstream failures (429, 5xx, refused connections) are retried; when it keeps
    failing, or is too slow, the answer is a 502 or a 504 whose ``detail`` gives the reason,
    the upstream's status and the attempts made.
    """
    query = parse_query(WeatherQuery, request, message="Invalid weather query")
    logger.info("weather query %s: %s", request.request_id, query)
    try:
        lookup = yield from perform(FetchWeather(query))
    except WeatherError as exc:
        logger.warning("weather upstream failed %s: %s (%s)", request.request_id, exc.reason, exc.detail)
        raise HTTPError(exc.status, exc.detail, message="Weather service unavailable") from None
    report = WeatherReport.build(query, lookup.forecast)
    logger.info("weather report %s (%s): %s", request.request_id, lookup.cache, report)
    return Response.json(report.model_dump(mode="json"), headers=[("X-Cache", lookup.cache)])
