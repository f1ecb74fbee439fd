"""Everything the weather feature reads or writes, parsed by pydantic.

Inbound: the ``/weather`` query, Open-Meteo's forecast answer (``current=`` and the legacy
``current_weather`` block), its error bodies and the geocoding search. Outbound: the
normalized :class:`WeatherReport` that both servers and the CLI show.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from webduo.core.query import QueryModel, query_fields
from webduo.core.weather.codes import describe


Units = Literal["metric", "imperial"]
ATTRIBUTION: Final = "Weather data by Open-Meteo.com"

# Open-Meteo's unit parameters for each system; metric is its default, so it sends nothing.
UNIT_PARAMETERS: Final[Mapping[Units, tuple[tuple[str, str], ...]]] = {
    "metric": (),
    "imperial": (("temperature_unit", "fahrenheit"), ("wind_speed_unit", "mph"), ("precipitation_unit", "inch")),
}


class WeatherQuery(QueryModel):
    """Where and in which units: ``?lat=..&lon=..[&units=metric|imperial]``; other names are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90, description="Latitude in degrees, north positive.")
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees, east positive.")
    units: Units = Field("metric", description="Metric (°C, km/h, mm) or imperial (°F, mph, inch) units.")

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> WeatherQuery:
        """Parse a request's query; a repeated key stays a list, so pydantic rejects it as not a number."""
        return cls.model_validate(query_fields(query))

    @classmethod
    def of(cls, latitude: float, longitude: float, units: str = "metric") -> WeatherQuery:
        """Parse already separated values (the CLI's flags) with the same rules."""
        return cls.model_validate({"lat": latitude, "lon": longitude, "units": units})

    def rounded(self, decimals: int) -> WeatherQuery:
        """The query snapped to ``decimals`` places: the cache key and what is asked upstream.

        Two decimals is ~1 km, finer than Open-Meteo's grid (~2-11 km), so the answer is the same.
        """
        return self.model_copy(update={"lat": round(self.lat, decimals), "lon": round(self.lon, decimals)})


class _Upstream(BaseModel):
    # Open-Meteo adds fields over time; unknown keys must not break the client.
    model_config = ConfigDict(frozen=True, extra="ignore")


class CurrentConditions(_Upstream):
    """The ``current`` block: any subset of the variables asked for, each possibly ``null``."""

    time: datetime
    interval: int | None = None
    temperature_2m: float | None = None
    relative_humidity_2m: float | None = None
    apparent_temperature: float | None = None
    is_day: int | None = None
    precipitation: float | None = None
    rain: float | None = None
    showers: float | None = None
    snowfall: float | None = None
    weather_code: int | None = None
    cloud_cover: float | None = None
    pressure_msl: float | None = None
    surface_pressure: float | None = None
    wind_speed_10m: float | None = None
    wind_direction_10m: float | None = None
    wind_gusts_10m: float | None = None


class LegacyCurrentWeather(_Upstream):
    """The legacy ``current_weather=true`` block (Open-Meteo returns it instead when both are asked)."""

    time: datetime
    interval: int | None = None
    temperature: float | None = None
    windspeed: float | None = None
    winddirection: float | None = None
    is_day: int | None = None
    weathercode: int | None = None


class UpstreamErrorBody(_Upstream):
    """``{"error": true, "reason": "..."}``: Open-Meteo's error body, sent with 400/429/503 and sometimes 200."""

    error: Literal[True]
    reason: str = ""


class Forecast(_Upstream):
    """A forecast answer; ``latitude``/``longitude`` are the grid cell's, not the request's."""

    latitude: float
    longitude: float
    generationtime_ms: float | None = None
    utc_offset_seconds: int = 0
    timezone: str = "GMT"
    timezone_abbreviation: str | None = None
    elevation: float | None = None
    current_units: dict[str, str] = Field(default_factory=dict)
    current: CurrentConditions | None = None
    current_weather_units: dict[str, str] = Field(default_factory=dict)
    current_weather: LegacyCurrentWeather | None = None

    @model_validator(mode="after")
    def _has_conditions(self) -> Forecast:
        if self.current is None and self.current_weather is None:
            raise ValueError("the answer has neither a 'current' nor a 'current_weather' block")
        return self

    def observed_at(self) -> datetime:
        """The observation time with its offset (Open-Meteo sends local time without one)."""
        block: CurrentConditions | LegacyCurrentWeather | None = self.current or self.current_weather
        if block is None:  # unreachable after _has_conditions; narrows the type
            raise ValueError("no conditions")
        return block.time.replace(tzinfo=timezone(timedelta(seconds=self.utc_offset_seconds)))


class Place(_Upstream):
    """One geocoding match; empty admin levels are omitted upstream, so they default to ``None``."""

    id: int
    name: str
    latitude: float
    longitude: float
    elevation: float | None = None
    feature_code: str | None = None
    country_code: str | None = None
    timezone: str | None = None
    population: int | None = None
    country: str | None = None
    admin1: str | None = None
    admin2: str | None = None
    admin3: str | None = None
    admin4: str | None = None

    @property
    def label(self) -> str:
        """``"Berlin, Land Berlin, Germany"``: enough to tell namesakes apart."""
        parts = [self.name, self.admin1, self.country]
        return ", ".join(dict.fromkeys(part for part in parts if part))


class GeocodingAnswer(_Upstream):
    """A search answer; with no match the ``results`` key is absent, not ``[]``."""

    results: list[Place] = Field(default_factory=list)
    generationtime_ms: float | None = None


class Coordinates(BaseModel):
    model_config = ConfigDict(frozen=True)

    latitude: float
    longitude: float


class ReportUnits(BaseModel):
    """The unit system asked for and each quantity's unit as Open-Meteo labelled it."""

    model_config = ConfigDict(frozen=True)

    system: Units
    temperature: str | None = None
    humidity: str | None = None
    precipitation: str | None = None
    cloud_cover: str | None = None
    pressure: str | None = None
    wind_speed: str | None = None
    wind_direction: str | None = None


class WeatherReport(BaseModel):
    """Current conditions at a place, normalized: what ``/weather`` and ``webduo weather`` return."""

    model_config = ConfigDict(frozen=True)

    place: str | None
    requested: Coordinates
    grid: Coordinates
    elevation: float | None
    observed_at: datetime
    timezone: str
    timezone_abbreviation: str | None
    temperature: float | None
    apparent_temperature: float | None
    humidity: float | None
    precipitation: float | None
    cloud_cover: float | None
    pressure: float | None
    wind_speed: float | None
    wind_direction: float | None
    wind_gusts: float | None
    is_day: bool | None
    weather_code: int | None
    weather: str
    units: ReportUnits
    source: Literal["open-meteo"] = "open-meteo"
    attribution: str = ATTRIBUTION

    @classmethod
    def build(cls, query: WeatherQuery, forecast: Forecast, place: str | None = None) -> WeatherReport:
        """Normalize either upstream shape; a quantity the answer lacks is ``null``."""
        common: dict[str, Any] = {
            "place": place,
            "requested": Coordinates(latitude=query.lat, longitude=query.lon),
            "grid": Coordinates(latitude=forecast.latitude, longitude=forecast.longitude),
            "elevation": forecast.elevation,
            "observed_at": forecast.observed_at(),
            "timezone": forecast.timezone,
            "timezone_abbreviation": forecast.timezone_abbreviation,
        }
        if forecast.current is not None:
            measured = _from_current(query.units, forecast.current, forecast.current_units)
        elif forecast.current_weather is not None:
            measured = _from_legacy(query.units, forecast.current_weather, forecast.current_weather_units)
        else:  # unreachable after Forecast's own check; narrows the type
            raise ValueError("no conditions")
        return cls.model_validate({**common, **measured})


def _from_current(system: Units, now: CurrentConditions, units: Mapping[str, str]) -> dict[str, Any]:
    return {
        "temperature": now.temperature_2m,
        "apparent_temperature": now.apparent_temperature,
        "humidity": now.relative_humidity_2m,
        "precipitation": now.precipitation,
        "cloud_cover": now.cloud_cover,
        "pressure": now.pressure_msl,
        "wind_speed": now.wind_speed_10m,
        "wind_direction": now.wind_direction_10m,
        "wind_gusts": now.wind_gusts_10m,
        "is_day": None if now.is_day is None else bool(now.is_day),
        "weather_code": now.weather_code,
        "weather": describe(now.weather_code),
        "units": ReportUnits(
            system=system,
            temperature=units.get("temperature_2m"),
            humidity=units.get("relative_humidity_2m"),
            precipitation=units.get("precipitation"),
            cloud_cover=units.get("cloud_cover"),
            pressure=units.get("pressure_msl"),
            wind_speed=units.get("wind_speed_10m"),
            wind_direction=units.get("wind_direction_10m"),
        ),
    }


def _from_legacy(system: Units, now: LegacyCurrentWeather, units: Mapping[str, str]) -> dict[str, Any]:
    return {
        "temperature": now.temperature,
        "apparent_temperature": None,
        "humidity": None,
        "precipitation": None,
        "cloud_cover": None,
        "pressure": None,
        "wind_speed": now.windspeed,
        "wind_direction": now.winddirection,
        "wind_gusts": None,
        "is_day": None if now.is_day is None else bool(now.is_day),
        "weather_code": now.weathercode,
        "weather": describe(now.weathercode),
        "units": ReportUnits(
            system=system,
            temperature=units.get("temperature"),
            wind_speed=units.get("windspeed"),
            wind_direction=units.get("winddirection"),
        ),
    }
