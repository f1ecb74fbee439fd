"""Settings that point the weather client at the stand-in and keep failure tests fast."""

from __future__ import annotations

from typing import Any

from webduo.settings import Settings
from webduo.testing.openmeteo import FakeOpenMeteo


# Small but not tiny: a loaded 2-core CI box must still answer a healthy request within them.
FAST: dict[str, Any] = {
    "weather_connect_timeout": 1.0,
    "weather_read_timeout": 1.0,
    "weather_total_timeout": 4.0,
    "weather_retries": 3,
    "weather_backoff": 0.01,
}
SLOW_SECONDS = 3.0  # how long a "slow" stand-in answer takes: well past FAST's read timeout


def fast_settings(fake: FakeOpenMeteo, **overrides: Any) -> Settings:
    """Settings aimed at ``fake`` with short timeouts and backoff (``overrides`` win)."""
    return Settings(weather_url=fake.forecast_url, geocoding_url=fake.geocoding_url, **{**FAST, **overrides})


def fast_env(fake: FakeOpenMeteo) -> dict[str, str]:
    """The same as ``WEBDUO_*`` variables, for server and CLI subprocesses."""
    settings = {"weather_url": fake.forecast_url, "geocoding_url": fake.geocoding_url, **FAST}
    return {f"WEBDUO_{name.upper()}": str(value) for name, value in settings.items()}
