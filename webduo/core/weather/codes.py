"""WMO weather interpretation codes (as Open-Meteo documents them) and their descriptions."""

from __future__ import annotations

import json
from functools import cache

from webduo.core.weather.recorded import recorded


UNKNOWN = "Unknown"


@cache
def _descriptions() -> dict[int, str]:
    table: dict[str, str] = json.loads(recorded("wmo_weather_codes.json"))
    return {int(code): text for code, text in table.items()}


def describe(code: int | None) -> str:
    """The description of WMO code ``code``; ``"Unknown"`` for a missing or unlisted code."""
    if code is None:
        return UNKNOWN
    return _descriptions().get(code, UNKNOWN)
