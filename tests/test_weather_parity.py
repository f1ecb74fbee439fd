"""``/weather`` on both engines: the same body for the same upstream answer, the same envelope per failure.

Each case runs once per engine against the session's stand-in (``server_env`` points both
servers at it with short timeouts); both are held to one expected body, so they agree byte
for byte. Every case asks for its own coordinates: the servers' caches outlive a test.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from webduo.core.weather.models import Forecast, WeatherQuery, WeatherReport
from webduo.core.weather.recorded import recorded
from webduo.testing.openmeteo import FakeOpenMeteo


def canonical(payload: Any) -> bytes:
    """How both engines serialize JSON (``Response.json``)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def expected_report(lat: float, lon: float, units: str, recording: str) -> bytes:
    query = WeatherQuery.of(lat, lon, units)
    return canonical(
        WeatherReport.build(query, Forecast.model_validate_json(recorded(recording))).model_dump(mode="json")
    )


def envelope_without_id(response: httpx.Response) -> bytes:
    """The error body with its request id (which differs per request) checked and blanked."""
    payload = response.json()
    assert payload["error"]["request_id"] == response.headers["x-request-id"]
    payload["error"]["request_id"] = ""
    return canonical(payload)


def error(status: int, message: str, detail: Any) -> bytes:
    return canonical({"error": {"status": status, "message": message, "detail": detail, "request_id": ""}})


@pytest.mark.parametrize(
    ("params", "recording"),
    [
        ({"lat": "48.85", "lon": "2.35"}, "openmeteo_current_example.json"),
        ({"lat": "-33.87", "lon": "151.21", "units": "imperial"}, "openmeteo_current_example_tz_imperial.json"),
    ],
)
def test_report_then_hit(
    client: httpx.Client, openmeteo: FakeOpenMeteo, params: dict[str, str], recording: str
) -> None:
    first = client.get("/weather", params=params)
    assert (first.status_code, first.headers["x-cache"], first.headers["content-type"]) == (
        200,
        "MISS",
        "application/json",
    )
    assert first.content == expected_report(
        float(params["lat"]), float(params["lon"]), params.get("units", "metric"), recording
    )
    again = client.get("/weather", params=params)
    assert (again.headers["x-cache"], again.content) == ("HIT", first.content)
    assert openmeteo.state.count() == 1


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (
            "",
            [
                {"loc": ["lat"], "msg": "Field required", "type": "missing"},
                {"loc": ["lon"], "msg": "Field required", "type": "missing"},
            ],
        ),
        (
            "lat=91&lon=0",
            [{"loc": ["lat"], "msg": "Input should be less than or equal to 90", "type": "less_than_equal"}],
        ),
        (
            "lat=1&lon=x",
            [
                {
                    "loc": ["lon"],
                    "msg": "Input should be a valid number, unable to parse string as a number",
                    "type": "float_parsing",
                }
            ],
        ),
        (
            "lat=1&lon=2&units=kelvin",
            [{"loc": ["units"], "msg": "Input should be 'metric' or 'imperial'", "type": "literal_error"}],
        ),
    ],
)
def test_invalid_query_is_the_same_422(
    client: httpx.Client, openmeteo: FakeOpenMeteo, query: str, detail: list[dict[str, Any]]
) -> None:
    response = client.get(f"/weather?{query}")
    assert response.status_code == 422
    assert envelope_without_id(response) == error(422, "Invalid weather query", detail)
    assert openmeteo.state.count() == 0


UNAVAILABLE = "Weather service unavailable"


@pytest.mark.parametrize(
    ("lat", "behaviour", "status", "detail"),
    [
        (
            10.01,
            "400",
            502,
            {
                "reason": json.loads(recorded("openmeteo_error_400_invalid_variable.json"))["reason"],
                "upstream_status": 400,
                "attempts": 1,
            },
        ),
        (10.02, "503", 502, {"reason": "The service is overloaded", "upstream_status": 503, "attempts": 4}),
        (
            10.03,
            "429",
            502,
            {
                "reason": "Minutely API request limit exceeded. Please try again in one minute.",
                "upstream_status": 429,
                "attempts": 4,
            },
        ),
        (
            10.04,
            "html502",
            502,
            {
                "reason": "Open-Meteo answered 502 without an error reason (text/html)",
                "upstream_status": 502,
                "attempts": 4,
            },
        ),
        (
            10.05,
            "error200",
            502,
            {"reason": "Internal error: the forecast could not be computed", "upstream_status": 200, "attempts": 4},
        ),
        (
            10.06,
            "slow",
            504,
            {"reason": "Open-Meteo did not answer in time (ReadTimeout)", "upstream_status": None, "attempts": 1},
        ),
    ],
)
def test_upstream_failure_is_the_same_envelope(
    client: httpx.Client, openmeteo: FakeOpenMeteo, lat: float, behaviour: str, status: int, detail: dict[str, Any]
) -> None:
    openmeteo.state.script(default=behaviour)
    response = client.get("/weather", params={"lat": lat, "lon": 20})
    assert response.status_code == status
    assert "x-cache" not in response.headers
    assert envelope_without_id(response) == error(status, UNAVAILABLE, detail)
    # Failures are not cached: the stand-in, healthy again, answers the next request.
    openmeteo.state.script(default="ok")
    assert client.get("/weather", params={"lat": lat, "lon": 20}).headers["x-cache"] == "MISS"
