"""``webduo weather`` against the stand-in: table, JSON, place names and one-line failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.weather.support import fast_env
from webduo.bench.processes import free_port
from webduo.cli import app
from webduo.core.weather.models import WeatherReport
from webduo.testing.openmeteo import FakeOpenMeteo


def invoke(fake: FakeOpenMeteo, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["weather", *args], env=fast_env(fake))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_table_by_default(openmeteo: FakeOpenMeteo) -> None:
    code, output = invoke(openmeteo, "--lat", "52.52", "--lon", "13.41")
    assert code == 0
    for expected in ("Weather at 52.52, 13.41", "Overcast (WMO 3)", "4.6 °C", "1018.4 hPa", "Open-Meteo.com"):
        assert expected in output


def test_json_is_the_report(openmeteo: FakeOpenMeteo) -> None:
    code, output = invoke(openmeteo, "--lat", "52.52", "--lon", "13.41", "--units", "imperial", "--json")
    assert code == 0
    report = WeatherReport.model_validate(json.loads(output))
    assert (report.temperature, report.units.temperature, report.place) == (40.3, "°F", None)


def test_city_resolves_through_geocoding(openmeteo: FakeOpenMeteo) -> None:
    code, output = invoke(openmeteo, "--city", "Berlin", "--country", "de", "--json")
    assert code == 0
    report = WeatherReport.model_validate(json.loads(output))
    assert report.place == "Berlin, Land Berlin, Germany"
    assert (report.requested.latitude, report.requested.longitude) == (52.52437, 13.41053)
    assert (openmeteo.state.count("search"), openmeteo.state.count("forecast")) == (1, 1)


def test_ambiguous_city_lists_the_candidates(openmeteo: FakeOpenMeteo) -> None:
    code, output = invoke(openmeteo, "--city", "Berlin")
    assert code == 1
    assert "'Berlin' is ambiguous" in output
    assert "Berlin, Land Berlin, Germany" in output
    assert "Berlin, New Hampshire, United States" in output
    assert openmeteo.state.count("forecast") == 0


def test_unknown_city_is_a_clear_message(openmeteo: FakeOpenMeteo) -> None:
    code, output = invoke(openmeteo, "--city", "Atlantis")
    assert (code, output.strip()) == (1, "error: no place called 'Atlantis' found")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give either --lat and --lon, or --city"),
        (("--lat", "1", "--lon", "2", "--city", "Berlin"), "give either --lat and --lon, or --city"),
        (("--country", "DE"), "give either --lat and --lon, or --city"),
        (("--lat", "52"), "--lon is required with --lat"),
        (("--lon", "13"), "--lat is required with --lon"),
        (("--lat", "91", "--lon", "0"), "--lat: Input should be less than or equal to 90"),
        (
            ("--lat", "1", "--lon", "2", "--country", "DE"),
            "--country narrows --city; it cannot be used with --lat/--lon",
        ),
        (("--city", ""), "--city must not be empty"),
        (("--city", " \t"), "--city must not be empty"),
        (
            ("--city", "Berlin", "--country", "Germany"),
            "--country must be an ISO 3166-1 alpha-2 code (two letters, e.g. DE), got 'Germany'",
        ),
        (
            ("--city", "Berlin", "--country", "D"),
            "--country must be an ISO 3166-1 alpha-2 code (two letters, e.g. DE), got 'D'",
        ),
        (
            ("--lat", "1", "--lon", "2", "--weather-url", "notaurl"),
            "--weather-url / WEBDUO_WEATHER_URL: must be an http:// or https:// URL, got notaurl",
        ),
        (
            ("--city", "Berlin", "--geocoding-url", "ftp://example.com/v1/search"),
            "--geocoding-url / WEBDUO_GEOCODING_URL: must be an http:// or https:// URL, got ftp://example.com/v1/search",
        ),
    ],
)
def test_bad_arguments_are_usage_errors(openmeteo: FakeOpenMeteo, args: tuple[str, ...], message: str) -> None:
    code, output = invoke(openmeteo, *args)
    assert (code, output.strip()) == (2, f"error: {message}")
    assert (openmeteo.state.count("search"), openmeteo.state.count("forecast")) == (0, 0)


def test_upstream_failure_is_one_line(openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script(default="503")
    code, output = invoke(openmeteo, "--lat", "1", "--lon", "2")
    assert (code, output.strip()) == (1, "error: Open-Meteo failed: The service is overloaded")


def test_network_error_is_one_line_without_traceback(openmeteo: FakeOpenMeteo) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/forecast"
    result = subprocess.run(
        [sys.executable, "-m", "webduo", "weather", "--lat", "1", "--lon", "2", "--weather-url", closed],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **fast_env(openmeteo)},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: Open-Meteo failed: Cannot reach Open-Meteo (ConnectError")
    assert len(result.stderr.strip().splitlines()) == 1
