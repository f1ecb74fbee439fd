"""The help of each CLI flag that sets a ``Settings`` field: description, variable, default.

Generated from ``webduo/settings.py`` by ``make docs``: edit the descriptions there. The CLI
reads this module, not ``Settings``: importing pydantic-settings would triple the time
``webduo --help`` takes to start.
"""

# ruff: noqa: E501

from typing import Final


FLAG_HELP: Final[dict[str, str]] = {
    "--geocoding-url": "Open-Meteo geocoding endpoint, which turns place names into coordinates. [env WEBDUO_GEOCODING_URL; default: https://geocoding-api.open-meteo.com/v1/search]",
    "--host": "Interface to listen on; 0.0.0.0 listens on every one. [env WEBDUO_HOST; default: localhost]",
    "--log-level": "Console log level: DEBUG, INFO, WARNING or ERROR, in any case; INFO logs one line per request. [env WEBDUO_LOG_LEVEL; default: INFO]",
    "--loop": "Event loop of the async engine; auto takes uvloop where it is installed (pip install 'webduo[uvloop]'), else asyncio. [env WEBDUO_LOOP; default: auto]",
    "--port": "Port to listen on; 0 picks a free one. [env WEBDUO_SYNC_PORT / WEBDUO_ASYNC_PORT; default: 8001 / 8002]",
    "--threads": "Request-handling threads per sync worker. [env WEBDUO_THREADS; default: 1]",
    "--weather-url": "Open-Meteo forecast endpoint, or a local stand-in. [env WEBDUO_WEATHER_URL; default: https://api.open-meteo.com/v1/forecast]",
    "--workers": "Pre-forked worker processes. [env WEBDUO_WORKERS; default: 1]",
}
