"""Every recorded Open-Meteo answer through the models, and the query rules."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from webduo.core.query import field_errors
from webduo.core.weather.cache import TTLCache
from webduo.core.weather.codes import describe
from webduo.core.weather.models import (
    Forecast,
    GeocodingAnswer,
    UpstreamErrorBody,
    WeatherQuery,
    WeatherReport,
)
from webduo.core.weather.recorded import recorded


BERLIN = WeatherQuery.of(52.52, 13.41)


def test_metric_current_answer_becomes_a_full_report() -> None:
    forecast = Forecast.model_validate_json(recorded("openmeteo_current_example.json"))
    report = WeatherReport.build(BERLIN, forecast)
    assert report.requested.model_dump() == {"latitude": 52.52, "longitude": 13.41}
    assert report.grid.model_dump() == {"latitude": 52.52, "longitude": 13.419998}
    assert report.observed_at.isoformat() == "2026-11-24T09:15:00+00:00"
    assert (report.temperature, report.apparent_temperature, report.humidity) == (4.6, 0.6, 87)
    assert (report.precipitation, report.cloud_cover, report.pressure) == (0.0, 100, 1018.4)
    assert (report.wind_speed, report.wind_direction, report.wind_gusts) == (15.5, 242, 33.1)
    assert (report.weather_code, report.weather, report.is_day) == (3, "Overcast", True)
    assert report.units.model_dump() == {
        "system": "metric",
        "temperature": "°C",
        "humidity": "%",
        "precipitation": "mm",
        "cloud_cover": "%",
        "pressure": "hPa",
        "wind_speed": "km/h",
        "wind_direction": "°",
    }
    assert report.source == "open-meteo"
    assert report.attribution == "Weather data by Open-Meteo.com"


def test_imperial_answer_keeps_its_units_offset_and_missing_variables() -> None:
    forecast = Forecast.model_validate_json(recorded("openmeteo_current_example_tz_imperial.json"))
    report = WeatherReport.build(WeatherQuery.of(52.52, 13.41, "imperial"), forecast)
    assert report.observed_at.isoformat() == "2026-11-24T10:15:00+01:00"
    assert report.observed_at.utcoffset() == timedelta(hours=1)
    assert (report.timezone, report.timezone_abbreviation) == ("Europe/Berlin", "GMT+1")
    assert (report.temperature, report.wind_speed, report.precipitation) == (40.3, 9.6, 0.0)
    assert (report.units.system, report.units.temperature, report.units.wind_speed) == ("imperial", "°F", "mp/h")
    assert report.units.precipitation == "inch"
    # Variables the answer lacks are null, not guessed.
    assert (report.cloud_cover, report.pressure, report.wind_gusts, report.is_day) == (None, None, None, None)


def test_legacy_current_weather_block_is_normalized_too() -> None:
    forecast = Forecast.model_validate_json(recorded("openmeteo_current_weather_legacy_example.json"))
    assert forecast.current is None
    report = WeatherReport.build(BERLIN, forecast)
    assert (report.temperature, report.wind_speed, report.wind_direction) == (4.6, 15.5, 242)
    assert (report.weather_code, report.weather, report.is_day) == (3, "Overcast", True)
    assert (report.units.temperature, report.units.wind_speed) == ("°C", "km/h")
    assert (report.humidity, report.apparent_temperature, report.units.humidity) == (None, None, None)


def test_nulls_ints_and_unknown_keys_are_tolerated() -> None:
    answer: dict[str, Any] = json.loads(recorded("openmeteo_current_example.json"))
    answer["current"].update(temperature_2m=None, weather_code=None, pressure_msl=1018, brand_new_variable=1.5)
    answer["something_new"] = {"nested": True}
    report = WeatherReport.build(BERLIN, Forecast.model_validate(answer))
    assert (report.temperature, report.weather_code, report.weather) == (None, None, "Unknown")
    assert report.pressure == 1018.0


@pytest.mark.parametrize(
    ("name", "reason_start"),
    [
        ("openmeteo_error_400_latitude.json", "Latitude must be in range of -90 to 90°. Given: 91.0."),
        ("openmeteo_error_400_invalid_variable.json", "Data corrupted at path ''."),
        ("openmeteo_error_429_minutely.json", "Minutely API request limit exceeded."),
        ("geocoding_error_400_count.json", "Parameter count must be between 1 and 100."),
    ],
)
def test_error_bodies_parse_and_are_not_forecasts(name: str, reason_start: str) -> None:
    body = recorded(name)
    assert UpstreamErrorBody.model_validate_json(body).reason.startswith(reason_start)
    with pytest.raises(ValidationError):
        Forecast.model_validate_json(body)


def test_forecast_without_any_conditions_block_is_refused() -> None:
    answer: dict[str, Any] = json.loads(recorded("openmeteo_current_example.json"))
    del answer["current"]
    with pytest.raises(ValidationError, match="neither a 'current' nor a 'current_weather'"):
        Forecast.model_validate(answer)


def test_success_bodies_are_not_error_bodies() -> None:
    with pytest.raises(ValidationError):
        UpstreamErrorBody.model_validate_json(recorded("openmeteo_current_example.json"))


def test_geocoding_answer_with_results() -> None:
    places = GeocodingAnswer.model_validate_json(recorded("geocoding_search_example.json")).results
    assert [place.label for place in places] == [
        "Berlin, Land Berlin, Germany",
        "Berlin, New Hampshire, United States",
    ]
    assert (places[0].latitude, places[0].longitude, places[0].admin2) == (52.52437, 13.41053, None)
    assert (places[1].country_code, places[1].admin4, places[1].population) == ("US", None, 9367)


def test_geocoding_answer_without_results_key_means_no_match() -> None:
    assert GeocodingAnswer.model_validate_json(recorded("geocoding_search_no_results_example.json")).results == []


def test_wmo_codes_cover_the_recorded_table_and_default_to_unknown() -> None:
    table: dict[str, str] = json.loads(recorded("wmo_weather_codes.json"))
    assert len(table) == 28
    assert all(describe(int(code)) == text for code, text in table.items())
    assert (describe(4), describe(None), describe(100)) == ("Unknown", "Unknown", "Unknown")


def test_query_parses_strings_from_a_query_string() -> None:
    query = WeatherQuery.from_query({"lat": ["-33.9"], "lon": ["151.2"], "units": ["imperial"]})
    assert (query.lat, query.lon, query.units) == (-33.9, 151.2, "imperial")
    assert WeatherQuery.from_query({"lat": ["90"], "lon": ["-180"]}).units == "metric"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [(["lat"], "missing"), (["lon"], "missing")]),
        ({"lat": ["91"], "lon": ["0"]}, [(["lat"], "less_than_equal")]),
        ({"lat": ["0"], "lon": ["-180.5"]}, [(["lon"], "greater_than_equal")]),
        ({"lat": ["north"], "lon": ["0"]}, [(["lat"], "float_parsing")]),
        ({"lat": [""], "lon": ["0"]}, [(["lat"], "float_parsing")]),
        ({"lat": ["nan"], "lon": ["inf"]}, [(["lat"], "finite_number"), (["lon"], "finite_number")]),
        ({"lat": ["1", "2"], "lon": ["0"]}, [(["lat"], "float_type")]),
        ({"lat": ["1"], "lon": ["0"], "units": ["kelvin"]}, [(["units"], "literal_error")]),
        ({"lat": ["1"], "lon": ["0"], "unit": ["imperial"]}, [(["unit"], "extra_forbidden")]),
    ],
)
def test_invalid_queries_list_each_field_error(params: dict[str, list[str]], expected: list[Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        WeatherQuery.from_query(params)
    errors = field_errors(caught.value)
    assert [(error["loc"], error["type"]) for error in errors] == expected
    # No documentation URLs and no echo of the (possibly huge) input.
    assert all(set(error) == {"loc", "msg", "type"} for error in errors)


def test_rounding_snaps_to_the_cache_grid() -> None:
    query = WeatherQuery.of(52.52437, 13.41053)
    assert query.rounded(2) == WeatherQuery.of(52.52, 13.41)
    assert WeatherQuery.of(52.5201, 13.4099).rounded(2) == query.rounded(2)


def test_cache_expires_after_its_ttl() -> None:
    now = [0.0]
    cache: TTLCache[str, int] = TTLCache(10, clock=lambda: now[0])
    cache.put("k", 1)
    now[0] = 9.9
    assert cache.get("k") == 1
    now[0] = 10.0
    assert cache.get("k") is None


def test_cache_with_zero_ttl_stores_nothing_and_evicts_the_oldest_when_full() -> None:
    disabled: TTLCache[str, int] = TTLCache(0)
    disabled.put("k", 1)
    assert disabled.get("k") is None
    full: TTLCache[int, int] = TTLCache(60, max_entries=2)
    for key in range(3):
        full.put(key, key)
    assert (full.get(0), full.get(1), full.get(2), len(full)) == (None, 1, 2, 2)
