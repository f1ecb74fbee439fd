"""``webduo weather`` without the printing: a report for coordinates or a place name, or a one-line error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
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
# ISO 3166-1 alpha-2: the geocoding API's countryCode; a name ("Germany") would match nothing.
COUNTRY_CODE: Final = re.compile(r"[A-Za-z]{2}")


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
    """The report for ``--lat/--lon`` or ``--city``; every failure is a :class:`CommandError`.

    The flags are checked before any call, so a usage error (exit 2) never costs a request.
    """
    if (city is not None) == (lat is not None or lon is not None):
        raise CommandError("give either --lat and --lon, or --city", exit_code=2)
    if city is None:
        if country is not None:
            raise CommandError("--country narrows --city; it cannot be used with --lat/--lon", exit_code=2)
        query = _coordinates(lat, lon, units)
        with _upstream(settings) as client:
            return WeatherReport.build(query, client.current(query).forecast)
    _check_place(city, country)
    with _upstream(settings) as client:
        place = _resolve(client, city, country)
        query = _query(place.latitude, place.longitude, units)
        return WeatherReport.build(query, client.current(query).forecast, place.label)


@contextmanager
def _upstream(settings: Settings) -> Iterator[WeatherClient]:
    """A client whose every failure ends as a one-line :class:`CommandError` (exit 1)."""
    try:
        with WeatherClient(settings) as client:
            yield client
    except WeatherError as exc:
        raise CommandError(f"Open-Meteo failed: {exc.reason}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise CommandError(f"cannot call Open-Meteo: {exc}") from None


def _coordinates(lat: float | None, lon: float | None, units: str) -> WeatherQuery:
    if lat is None or lon is None:
        # fetch_report made sure one of them is given.
        given, missing = ("--lat", "--lon") if lon is None else ("--lon", "--lat")
        raise CommandError(f"{missing} is required with {given}", exit_code=2)
    return _query(lat, lon, units)


def _check_place(city: str, country: str | None) -> None:
    if not city.strip():
        raise CommandError("--city must not be empty", exit_code=2)
    if country is not None and not COUNTRY_CODE.fullmatch(country):
        raise CommandError(f"--country must be an ISO 3166-1 alpha-2 code (two letters, e.g. DE), got {country!r}", 2)


def _query(lat: float, lon: float, units: str) -> WeatherQuery:
    try:
        return WeatherQuery.of(lat, lon, units)
    except ValidationError as exc:
        problems = "; ".join(f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in field_errors(exc))
        raise CommandError(problems, exit_code=2) from None


def _resolve(client: WeatherClient, city: str, country: str | None) -> Place:
    places = client.search(city, count=CANDIDATES, country=country)
    where = f" in {country.upper()}" if country else ""
    if not places:
        raise CommandError(f"no place called {city!r} found{where}")
    if len(places) > 1:
        shown = "; ".join(f"{p.label} ({p.country_code}, {p.latitude:.2f}, {p.longitude:.2f})" for p in places)
        raise CommandError(f"{city!r} is ambiguous{where}: {shown}. Narrow it with --country, or use --lat/--lon.")
    return places[0]
