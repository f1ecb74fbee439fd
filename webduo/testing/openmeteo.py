"""A local Open-Meteo stand-in: the recorded answers byte for byte, and failures on demand.

Run it alone for an offline demo or the bench::

    python -m webduo.testing.openmeteo --port 8099
    webduo serve --mode both --weather-url http://127.0.0.1:8099/v1/forecast

or in-process from tests with :class:`FakeOpenMeteo` (a thread of its own). It answers
``GET /v1/forecast`` and ``GET /v1/search`` like the real services (ranges validated, unknown
``current=`` variables refused) and is told what to do next through :class:`FakeState`, or
over HTTP: ``POST /_fake/script`` with ``{"script": ["503", "ok"], "default": "ok",
"slow_seconds": 2}``, ``GET /_fake/stats`` (requests seen, most at once), ``POST /_fake/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from webduo.core.weather.models import CurrentConditions
from webduo.core.weather.recorded import recorded


FORECAST_PATH: Final = "/v1/forecast"
SEARCH_PATH: Final = "/v1/search"
# The variables Open-Meteo accepts in current=; any other name is refused with a 400.
KNOWN_CURRENT: Final = frozenset(CurrentConditions.model_fields) - {"time", "interval"}
HTML_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def _dump(payload: Any) -> bytes:
    """Compact JSON ending in a newline, like every recorded answer."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _error(reason: str, status: int) -> web.Response:
    return _json(_dump({"error": True, "reason": reason}), status)


# What the stand-in can be told to do instead of answering normally.
MISBEHAVIOURS: Final[dict[str, Callable[[], web.Response]]] = {
    "400": lambda: _json(recorded("openmeteo_error_400_invalid_variable.json"), 400),
    "429": lambda: _json(recorded("openmeteo_error_429_minutely.json"), 429),
    "503": lambda: _error("The service is overloaded", 503),
    "html502": lambda: web.Response(body=HTML_502, status=502, content_type="text/html"),
    "error200": lambda: _error("Internal error: the forecast could not be computed", 200),
    "garbage": lambda: web.Response(body=b"<<not json>>", status=200, content_type="text/plain"),
}
BEHAVIOURS: Final = frozenset({"ok", "slow", *MISBEHAVIOURS})


class FakeState:
    """What the stand-in does next and how many requests it has seen; safe to drive from another thread.

    Each request takes the next behaviour from the script, or ``default`` once it is empty:
    ``ok``, ``slow`` (answer normally after ``slow_seconds``), ``400``, ``429``, ``503``, ``html502``,
    ``error200`` (a 200 whose body says ``"error": true``) or ``garbage``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._counts: Counter[str] = Counter()
        self._in_flight = 0
        self.most_in_flight = 0
        self.last_query: dict[str, str] = {}
        self.default = "ok"
        self.slow_seconds = 2.0

    def script(self, *behaviours: str, default: str | None = None, slow_seconds: float | None = None) -> None:
        """Replace the script; ``default`` and ``slow_seconds`` change only when given."""
        unknown = {*behaviours, default or "ok"} - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown behaviours {sorted(unknown)}; known: {sorted(BEHAVIOURS)}")
        with self._lock:
            self._script = deque(behaviours)
            self.default = default or self.default
            self.slow_seconds = self.slow_seconds if slow_seconds is None else slow_seconds

    def reset(self) -> None:
        """Answer normally again and forget the counts."""
        with self._lock:
            self._script.clear()
            self._counts.clear()
            self.most_in_flight = self._in_flight
            self.default, self.slow_seconds = "ok", 2.0

    def take(self, endpoint: str, query: dict[str, str]) -> str:
        """Count a request in (until :meth:`done`), keep its query, and say how to answer it."""
        with self._lock:
            self.last_query = query
            self._counts[endpoint] += 1
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            return self._script.popleft() if self._script else self.default

    def done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def count(self, endpoint: str = "forecast") -> int:
        """Requests ``endpoint`` (``forecast`` or ``search``) has received since the last reset."""
        with self._lock:
            return self._counts[endpoint]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _scripted(state: FakeState, endpoint: str, answer: Callable[[web.Request], web.Response]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        behaviour = state.take(endpoint, dict(request.query))
        try:
            if behaviour == "slow":
                await asyncio.sleep(state.slow_seconds)
            if behaviour in MISBEHAVIOURS:
                return MISBEHAVIOURS[behaviour]()
            return answer(request)
        finally:
            state.done()

    return handle


def forecast(request: web.Request) -> web.Response:
    """The recorded forecast for the shape asked: legacy, imperial, or metric (any coordinates)."""
    query = request.query
    for key, name, limit in (("latitude", "Latitude", 90), ("longitude", "Longitude", 180)):
        try:
            value = float(query[key])
        except (KeyError, ValueError):
            return _error(f"Parameter '{key}' is missing or not a number.", 400)
        if not -limit <= value <= limit:
            return _error(f"{name} must be in range of -{limit} to {limit}°. Given: {value!r}.", 400)
    asked = {name for name in query.get("current", "").split(",") if name}
    if asked - KNOWN_CURRENT:
        return _json(recorded("openmeteo_error_400_invalid_variable.json"), 400)
    if query.get("current_weather") == "true":
        return _json(recorded("openmeteo_current_weather_legacy_example.json"))
    if query.get("temperature_unit") == "fahrenheit":
        return _json(recorded("openmeteo_current_example_tz_imperial.json"))
    return _json(recorded("openmeteo_current_example.json"))


def search(request: web.Request) -> web.Response:
    """The recorded search for "Berlin" (narrowed by ``countryCode``/``count``), no results otherwise."""
    query = request.query
    try:
        count = int(query.get("count", "10"))
    except ValueError:
        count = 0
    if not 1 <= count <= 100:
        return _json(recorded("geocoding_error_400_count.json"), 400)
    if query.get("name", "").strip().lower() != "berlin":
        return _json(recorded("geocoding_search_no_results_example.json"))
    body = recorded("geocoding_search_example.json")
    answer: dict[str, Any] = json.loads(body)
    country = query.get("countryCode", "").upper()
    kept = [place for place in answer["results"] if not country or place["country_code"] == country][:count]
    if kept == answer["results"]:
        return _json(body)
    if not kept:
        return _json(recorded("geocoding_search_no_results_example.json"))
    narrowed = {"results": kept, "generationtime_ms": answer["generationtime_ms"]}
    return _json(_dump(narrowed))


def build_app(state: FakeState) -> web.Application:
    """The stand-in's aiohttp application, driven by ``state``."""

    async def set_script(request: web.Request) -> web.Response:
        try:
            orders = await request.json()
            script, default, slow = orders.get("script", []), orders.get("default"), orders.get("slow_seconds")
            state.script(*script, default=default, slow_seconds=slow)
        except (ValueError, TypeError, AttributeError) as exc:
            return _error(f"expected {{'script': [...], 'default': ..., 'slow_seconds': ...}}: {exc}", 400)
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        counts = {"forecast": state.count("forecast"), "search": state.count("search")}
        return web.json_response({**counts, "most_in_flight": state.most_in_flight})

    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get(FORECAST_PATH, _scripted(state, "forecast", forecast))
    app.router.add_get(SEARCH_PATH, _scripted(state, "search", search))
    app.router.add_post("/_fake/script", set_script)
    app.router.add_get("/_fake/stats", stats)
    app.router.add_post("/_fake/reset", reset)
    return app


class FakeOpenMeteo:
    """The stand-in served from a background thread on 127.0.0.1 (a free port unless given)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.state = FakeState()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-open-meteo", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def forecast_url(self) -> str:
        return self.base_url + FORECAST_PATH

    @property
    def geocoding_url(self) -> str:
        return self.base_url + SEARCH_PATH

    def start(self) -> FakeOpenMeteo:
        self._thread.start()
        if not self._ready.wait(10) or self._failure is not None:
            raise RuntimeError(f"the Open-Meteo stand-in did not start: {self._failure}")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FakeOpenMeteo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        # A "slow" answer whose client gave up is cancelled, not left sleeping (handler_cancellation).
        runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
        try:
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        leftovers = asyncio.all_tasks(self._loop)
        for task in leftovers:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self._loop.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m webduo.testing.openmeteo", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)
    base = f"http://{args.host}:{args.port}"
    print(f"Open-Meteo stand-in on {base}; try: webduo serve --mode both --weather-url {base}{FORECAST_PATH}")
    web.run_app(build_app(FakeState()), host=args.host, port=args.port, print=None, handler_cancellation=True)


if __name__ == "__main__":
    main()
