"""Every knob in one typed object: defaults, overridden by ``WEBDUO_*`` env / ``.env``, then CLI flags."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
KIB = 1024
MIB = 1024 * KIB


class Settings(BaseSettings):
    """Configuration shared by both engines, the weather client and the CLI."""

    model_config = SettingsConfigDict(env_prefix="WEBDUO_", env_file=".env", extra="ignore", frozen=True)

    # Where to listen.
    host: str = "localhost"
    sync_port: int = Field(8001, ge=0, le=65535)
    async_port: int = Field(8002, ge=0, le=65535)
    log_level: LogLevel = "INFO"

    # The header the middleware adds to every response; the value defaults to
    # "webduo/<version> (<engine>)" so a client can tell the engines apart.
    custom_header_name: str = "X-Powered-By"
    custom_header_value: str | None = None

    # Request limits (RFC 9112 leaves them to the server; defaults follow gunicorn/waitress).
    max_body_size: PositiveInt = 1 * MIB
    max_request_line: PositiveInt = 8 * KIB
    max_header_count: PositiveInt = 100
    max_header_block: PositiveInt = 16 * KIB

    # Timeouts, in seconds.
    head_timeout: PositiveFloat = 10.0
    keepalive_timeout: PositiveFloat = 5.0
    body_timeout: PositiveFloat = 30.0
    graceful_timeout: PositiveFloat = 30.0
    # Sync engine: how long a client may take to read a response, and how many connections one
    # worker keeps open (idle keep-alive ones included) before it stops accepting.
    send_timeout: PositiveFloat = 30.0
    max_connections: PositiveInt = 1000

    # Concurrency: pre-forked worker processes, threads per sync worker, CPU-task processes.
    workers: PositiveInt = 1
    threads: PositiveInt = 1
    cpu_pool_size: PositiveInt = 2

    # The upstream weather API (Open-Meteo) and how patiently it is called.
    weather_url: str = "https://api.open-meteo.com/v1/forecast"
    geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"
    weather_connect_timeout: PositiveFloat = 3.0
    weather_read_timeout: PositiveFloat = 5.0
    weather_total_timeout: PositiveFloat = 12.0
    weather_retries: int = Field(3, ge=0, le=10)
    weather_backoff: PositiveFloat = 0.25
    weather_cache_ttl: float = Field(600.0, ge=0)
    # Cache key precision: 2 decimals is ~1 km, finer than Open-Meteo's 2-11 km grid.
    weather_coordinate_decimals: int = Field(2, ge=0, le=6)

    def header_value_for(self, engine: str) -> str:
        from webduo import __version__

        return self.custom_header_value or f"webduo/{__version__} ({engine})"
