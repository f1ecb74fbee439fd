"""Every knob in one typed object: defaults, overridden by ``WEBDUO_*`` env / ``.env``, then CLI flags.

Each value is checked here, so every entry point (CLI, env, tests, an embedding program) gets
the same rules; :func:`settings_problems` turns pydantic's report into the user's words, one
line per problem naming the flag and the variable that set it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, PositiveInt, ValidationError
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from webduo.core.middleware import DEFAULT_CUSTOM_HEADER


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
KIB = 1024
MIB = 1024 * KIB
ENV_PREFIX: Final = "WEBDUO_"

# RFC 9110 §5.1: a field name is a token (§5.6.2).
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: a field value is visible ASCII, SP and HTAB (obs-text left out: clients differ on
# its meaning), without leading or trailing whitespace. CR and LF would end the header line.
_FIELD_VALUE: Final = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")
# Headers the engines frame, route or identify responses with (Content-Length, Transfer-Encoding),
# hop-by-hop ones (RFC 9110 §7.6.1) and those webduo sets itself: a second copy breaks the
# framing or contradicts the first.
RESERVED_HEADERS: Final = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
        "host",
        "date",
        "server",
        "content-type",
        "x-request-id",
        "x-cache",
        "allow",
    }
)


LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level(value: object) -> object:
    # Case-insensitive like logging's own names; the error keeps what the user typed.
    if isinstance(value, str) and value.upper() in LOG_LEVELS:
        return value.upper()
    raise PydanticCustomError("log_level", f"must be one of {', '.join(LOG_LEVELS)} (in any case)")


def _header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise PydanticCustomError("header_name", "must be a header name (letters, digits and !#$%&'*+-.^_`|~)")
    if value.lower() in RESERVED_HEADERS:
        raise PydanticCustomError("reserved_header", "must not be a header the server frames or sets itself")
    return value


def _header_value(value: str | None) -> str | None:
    if value and not _FIELD_VALUE.fullmatch(value):
        raise PydanticCustomError("header_value", "must be visible ASCII, spaces and tabs, with no space at either end")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("http_url", "must be an http:// or https:// URL")
    return value


def _cache_url(value: str | None) -> str | None:
    if not value:  # WEBDUO_CACHE_URL= (empty, as compose files write it) means none
        return None
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - parsing it is the check: a bad port raises here
    except ValueError:
        raise PydanticCustomError("cache_url", "must be redis://host:port/db (a port of 0-65535)") from None
    database = parts.path.lstrip("/")
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or not (database == "" or database.isdigit()):
        raise PydanticCustomError("cache_url", "must be redis://host:port/db or rediss://host:port/db")
    return value


@dataclass(frozen=True, slots=True)
class Unit:
    """What a number counts (``s``, ``bytes``), for the docs: pydantic keeps it in the metadata and ignores it."""

    symbol: str


HttpUrlText = Annotated[str, AfterValidator(_http_url)]
Port = Annotated[int, Field(ge=0, le=65535)]
# A duration in seconds: positive and finite (an infinite socket timeout is an OverflowError).
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False), Unit("s")]
Bytes = Annotated[PositiveInt, Unit("bytes")]


class Settings(BaseSettings):
    """Configuration shared by both engines, the weather client and the CLI."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True)

    host: str = Field(
        "localhost",
        description="Interface to listen on; 0.0.0.0 listens on every one.",
        json_schema_extra={"flag": "--host"},
    )
    # One flag sets either port, so both share its help: the variable's name says which engine.
    sync_port: Port = Field(
        8001, description="Port to listen on; 0 picks a free one.", json_schema_extra={"flag": "--port"}
    )
    async_port: Port = Field(
        8002, description="Port to listen on; 0 picks a free one.", json_schema_extra={"flag": "--port"}
    )
    log_level: Annotated[LogLevel, BeforeValidator(_log_level)] = Field(
        "INFO",
        description="Console log level: DEBUG, INFO, WARNING or ERROR, in any case; INFO logs one line per request.",
        json_schema_extra={"flag": "--log-level"},
    )

    custom_header_name: Annotated[str, AfterValidator(_header_name)] = Field(
        DEFAULT_CUSTOM_HEADER,
        description="Name of the header added to every response: a token (RFC 9110 §5.6.2), and not one the server"
        " frames or sets itself, such as Content-Length, Connection or X-Request-ID.",
    )
    custom_header_value: Annotated[str | None, AfterValidator(_header_value)] = Field(
        None,
        description="Value of that header: visible ASCII, spaces and tabs. Unset, it is webduo/<version> (<engine>),"
        " which tells the engines apart.",
    )

    # Request limits (RFC 9112 leaves them to the server; defaults follow gunicorn/waitress).
    max_body_size: Bytes = Field(1 * MIB, description="Largest request body; more is a 413.")
    max_request_line: Bytes = Field(8 * KIB, description="Longest request line; more is a 414.")
    max_header_count: PositiveInt = Field(100, description="Most header fields in a request; more is a 431.")
    max_header_block: Bytes = Field(
        16 * KIB, description="Largest header block, and largest trailer block of a chunked body; more is a 431."
    )

    # Timeouts, in seconds.
    head_timeout: Seconds = Field(
        10.0, description="Seconds from a request's first byte to the end of its head; then a 408."
    )
    keepalive_timeout: Seconds = Field(
        5.0, description="Seconds a connection may wait for its next request, or its first, before it is closed."
    )
    body_timeout: Seconds = Field(
        30.0, description="Seconds from the end of a request's head to its last byte; then a 408."
    )
    graceful_timeout: Seconds = Field(30.0, description="Seconds in-flight requests get to finish after a stop signal.")
    send_timeout: Seconds = Field(30.0, description="Seconds a client gets to take a whole response.")
    max_connections: PositiveInt = Field(
        1000, description="Open connections per sync worker, idle ones included, before it stops accepting."
    )

    workers: PositiveInt = Field(1, description="Pre-forked worker processes.", json_schema_extra={"flag": "--workers"})
    threads: PositiveInt = Field(
        1, description="Request-handling threads per sync worker.", json_schema_extra={"flag": "--threads"}
    )
    cpu_pool_size: PositiveInt = Field(
        2,
        description="Processes that run CPU-bound tasks beside the event loop; they exit by themselves if the server"
        " is killed.",
    )
    reuse_port: bool = Field(
        False,
        description="Async engine with --workers N: each worker listens on its own SO_REUSEPORT socket, over which"
        " the kernel spreads new connections by hash, instead of all taking turns on one shared socket; but a"
        " stalled worker then keeps its share of new connections waiting.",
    )
    loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto",
        description="Event loop of the async engine; auto takes uvloop where it is installed"
        " (pip install 'webduo[uvloop]'), else asyncio.",
        json_schema_extra={"flag": "--loop"},
    )

    # The upstream weather API (Open-Meteo) and how patiently it is called.
    weather_url: HttpUrlText = Field(
        "https://api.open-meteo.com/v1/forecast",
        description="Open-Meteo forecast endpoint, or a local stand-in.",
        json_schema_extra={"flag": "--weather-url"},
    )
    geocoding_url: HttpUrlText = Field(
        "https://geocoding-api.open-meteo.com/v1/search",
        description="Open-Meteo geocoding endpoint, which turns place names into coordinates.",
        json_schema_extra={"flag": "--geocoding-url"},
    )
    weather_connect_timeout: Seconds = Field(3.0, description="Seconds to connect to Open-Meteo, per attempt.")
    weather_read_timeout: Seconds = Field(
        5.0, description="Seconds to wait for Open-Meteo's answer, per attempt; a later answer is a 504."
    )
    weather_total_timeout: Seconds = Field(
        12.0, description="Seconds for all attempts and pauses of one weather lookup."
    )
    weather_retries: int = Field(3, ge=0, le=10, description="Retries after a failed first attempt.")
    weather_backoff: Seconds = Field(
        0.25, description="Seconds before the first retry; doubles each time, with jitter."
    )
    weather_cache_ttl: Annotated[float, Unit("s")] = Field(
        600.0, ge=0, allow_inf_nan=False, description="Seconds a forecast is cached; 0 turns the cache off."
    )
    # 2 decimals is ~1 km, finer than Open-Meteo's 2-11 km grid.
    weather_coordinate_decimals: int = Field(
        2, ge=0, le=6, description="Decimals coordinates are rounded to for the cache and the upstream call (2: ~1 km)."
    )

    # Beyond one machine: the cache every replica shares, and where pre-forked workers keep their metrics.
    cache_url: Annotated[str | None, AfterValidator(_cache_url)] = Field(
        None,
        description="Redis or Valkey (redis://host:port/db) holding weather reports for every replica and worker;"
        " unset, each process caches its own.",
    )
    metrics_dir: str | None = Field(
        None,
        description="Directory in which a server with several workers makes a fresh folder per run for their"
        " metric files, removed at exit; unset, the system's temporary directory.",
    )

    def header_value_for(self, engine: str) -> str:
        """The custom header's value: the one configured, else ``webduo/<version> (<engine>)``."""
        from webduo import __version__

        return self.custom_header_value or f"webduo/{__version__} ({engine})"


def settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting, e.g. ``--port / WEBDUO_SYNC_PORT: must be 0-65535, got 70000``.

    The one place where pydantic's field names, types and URLs become the user's words: the
    flag (when the setting has one) and the variable that set it, what it must be, what it got.
    """
    lines = []
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else ""
        got = f", got {_shown(item['input'])}" if name else ""
        lines.append(f"{setting_label(name)}: {_requirement(name, item['type'], item['msg'], item.get('ctx'))}{got}")
    return lines


def setting_label(name: str) -> str:
    """``--port / WEBDUO_SYNC_PORT``: how a user sets ``name``; the variable alone when it has no flag."""
    if name not in Settings.model_fields:
        return name or "settings"
    flag = setting_flag(name)
    env = ENV_PREFIX + name.upper()
    return f"{flag} / {env}" if flag else env


def setting_flag(name: str) -> str | None:
    """The CLI flag that sets field ``name`` (its ``json_schema_extra["flag"]``), if one does."""
    field = Settings.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    flag = extra.get("flag")
    return flag if isinstance(flag, str) else None


def _requirement(name: str, kind: str, message: str, ctx: dict[str, Any] | None) -> str:
    ctx = ctx or {}
    field = Settings.model_fields.get(name)
    bounds = {
        key: getattr(item, key)
        for item in (field.metadata if field else [])
        for key in ("ge", "le")
        if hasattr(item, key)
    }
    if kind in ("greater_than_equal", "less_than_equal") and {"ge", "le"} <= bounds.keys():
        return f"must be {_number(bounds['ge'])}-{_number(bounds['le'])}"
    wording = {
        "greater_than_equal": f"must be at least {_number(ctx.get('ge'))}",
        "less_than_equal": f"must be at most {_number(ctx.get('le'))}",
        "greater_than": f"must be more than {_number(ctx.get('gt'))}",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "int_type": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "literal_error": f"must be one of {ctx.get('expected')}",
    }
    # Our own checks (PydanticCustomError) already speak plainly; anything else keeps pydantic's words.
    return wording.get(kind) or message[:1].lower() + message[1:]


_PLAIN: Final = re.compile(r"[\w.:/+\-]{1,80}")


def _shown(value: object) -> str:
    """A value as the user typed it; quoted when spaces, control characters or emptiness would hide it."""
    if isinstance(value, str) and not _PLAIN.fullmatch(value):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    return str(value)


def _number(bound: object) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)
