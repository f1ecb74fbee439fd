"""``webduo weather``: a report for coordinates or a place name, as a rich table or JSON."""

from __future__ import annotations

from typing import Final

import httpx
from pydantic import ValidationError
from rich.table import Table

from webduo.core.query import field_errors
from webduo.core.weather.client import WeatherClient
from webduo.core.weather.errors import WeatherError
from webduo.core.weather.models import ATTRIBUTION, Place, WeatherQuery, WeatherReport
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


def _value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    return f"{value:g} {unit}".rstrip() if unit else f"{value:g}"


def report_table(report: WeatherReport) -> Table:
    """The report as a two-column table, units beside the values."""
    units = report.units
    where = report.place or f"{report.requested.latitude:g}, {report.requested.longitude:g}"
    table = Table(title=f"Weather at {where}", caption=ATTRIBUTION, show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    rows = [
        ("Conditions", f"{report.weather} (WMO {report.weather_code if report.weather_code is not None else '-'})"),
        ("Observed", f"{report.observed_at.isoformat()} ({report.timezone})"),
        ("Temperature", _value(report.temperature, units.temperature)),
        ("Feels like", _value(report.apparent_temperature, units.temperature)),
        ("Humidity", _value(report.humidity, units.humidity)),
        ("Precipitation", _value(report.precipitation, units.precipitation)),
        ("Cloud cover", _value(report.cloud_cover, units.cloud_cover)),
        ("Pressure", _value(report.pressure, units.pressure)),
        ("Wind", _value(report.wind_speed, units.wind_speed)),
        ("Wind from", _value(report.wind_direction, units.wind_direction)),
        ("Gusts", _value(report.wind_gusts, units.wind_speed)),
        ("Grid cell", f"{report.grid.latitude:g}, {report.grid.longitude:g} ({_value(report.elevation, 'm')})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
