"""``webduo weather`` without the printing: a report for coordinates or a place name, or a one-line error."""

from __future__ import annotations

from typing import Final

import httpx
from pydantic import ValidationError

from webduo.core.query import field_errors
from webduo.core.weather.client import WeatherClient
from webduo.core.weather.errors import WeatherError
from webduo.core.weather.models import Place, WeatherQuery, WeatherReport
from webduo.settings import Settings


# Enough candidates to show why a name is ambiguous, few enough to read.
CANDIDATES: Final = 10


class CommandError(Exception):
    """A one-line message for the user and the exit code that goes with it."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fetch_report(
    settings: Settings,
    *,
    lat: float | None,
    lon: float | None,
    city: str | None,
    country: str | None,
    units: str,
) -> WeatherReport:
    """The report for ``--lat/--lon`` or ``--city``; every failure is a :class:`CommandError`."""
    if (city is not None) == (lat is not None or lon is not None):
        raise CommandError("give either --lat and --lon, or --city", exit_code=2)
    try:
        with WeatherClient(settings) as client:
            place = _resolve(client, city, country) if city is not None else None
            query = _query(place.latitude if place else lat, place.longitude if place else lon, units)
            lookup = client.current(query)
    except WeatherError as exc:
        raise CommandError(f"Open-Meteo failed: {exc.reason}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise CommandError(f"cannot call Open-Meteo: {exc}") from None
    return WeatherReport.build(query, lookup.forecast, place.label if place else None)


def _query(lat: float | None, lon: float | None, units: str) -> WeatherQuery:
    given = {"lat": lat, "lon": lon, "units": units}
    try:
        return WeatherQuery.model_validate({key: value for key, value in given.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in field_errors(exc))
        raise CommandError(f"invalid query: {problems}", exit_code=2) from None


def _resolve(client: WeatherClient, city: str, country: str | None) -> Place:
    places = client.search(city, count=CANDIDATES, country=country)
    where = f" in {country.upper()}" if country else ""
    if not places:
        raise CommandError(f"no place called {city!r} found{where}")
    if len(places) > 1:
        shown = "; ".join(f"{p.label} ({p.country_code}, {p.latitude:.2f}, {p.longitude:.2f})" for p in places)
        raise CommandError(f"{city!r} is ambiguous{where}: {shown}. Narrow it with --country, or use --lat/--lon.")
    return places[0]
