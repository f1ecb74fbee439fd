"""The engine-neutral application: route table + middleware + error envelope + access log.

An engine turns bytes into a :class:`~webduo.core.http.Request`, then::

    exchange = app.begin(request)
    try:
        outcome = run_sync(app.dispatch(exchange.request), runtime)   # or await run_async(...)
    except Exception as exc:
        outcome = exc
    response = app.complete(exchange, outcome)

and writes ``response`` back. Everything between is the same code for both engines.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from webduo.core.effects import EndpointResult
from webduo.core.errors import response_for_exception
from webduo.core.http import Request, Response
from webduo.core.middleware import CustomHeaderMiddleware, Middleware, RequestIdMiddleware
from webduo.core.routing import RouteTable


access_logger = logging.getLogger("webduo.access")


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request after the inbound middleware, and when it started (for the access log)."""

    request: Request
    started: float


class App:
    def __init__(self, routes: RouteTable, middleware: Sequence[Middleware]) -> None:
        self.routes = routes
        self.middleware = tuple(middleware)

    def begin(self, request: Request) -> Exchange:
        started = time.perf_counter()
        for layer in self.middleware:
            request = layer.on_request(request)
        return Exchange(request, started)

    def dispatch(self, request: Request) -> EndpointResult | Response:
        """Route ``request`` and start its endpoint; raises ``HTTPError`` for 404/405."""
        return self.routes.resolve(request.method, request.path).endpoint(request)

    def complete(self, exchange: Exchange, outcome: Response | BaseException) -> Response:
        """The response as sent: errors enveloped, outbound middleware applied, access logged."""
        request = exchange.request
        response = outcome if isinstance(outcome, Response) else response_for_exception(outcome, request.request_id)
        for layer in reversed(self.middleware):
            response = layer.on_response(request, response)
        elapsed_ms = (time.perf_counter() - exchange.started) * 1000
        access_logger.info(
            "%s %s %d %dB %.1fms id=%s",
            request.method,
            printable(request.path),
            response.status,
            len(response.body),
            elapsed_ms,
            request.request_id,
        )
        return response


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """``text`` with control characters escaped: a decoded ``%0A`` in a path must not forge a log line."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text) if _CONTROL.search(text) else text


def build_app(routes: RouteTable, header_name: str, header_value: str) -> App:
    """The middleware stack both engines use, outermost first."""
    return App(routes, [CustomHeaderMiddleware(header_name, header_value), RequestIdMiddleware()])
