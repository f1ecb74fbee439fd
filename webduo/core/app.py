"""The engine-neutral application: route table + middleware + error envelope + access log.

An engine turns bytes into a :class:`~webduo.core.http.Request` and makes one call::

    response = app.respond(request, runtime)          # a blocking engine
    response = await app.arespond(request, runtime)   # an event loop
    response = app.refuse(request, error)             # a request its parser refused

and writes ``response`` back. Everything between — inbound middleware, routing, the endpoint,
the error envelope, outbound middleware, the access log, the metrics and the last-resort 500 —
is this module's, once. Nothing escapes as an exception: whatever fails, the answer is a
:class:`Response`.

Both calls are :meth:`App.start` followed, only when the endpoint has to wait, by finishing the
:class:`Pending` it returns. Most requests (``/hello``, every 404, every validation error) are
answered by ``start`` alone, so an event loop can answer them in the callback that parsed them,
without a task per request; :mod:`webduo.engines.aio.protocol` does.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from webduo.core.effects import Effect, EndpointResult, Runtime, drive_async, drive_sync, resume
from webduo.core.errors import LAST_RESORT_BODY, LAST_RESORT_STATUS, response_for_exception
from webduo.core.http import JSON_CONTENT_TYPE, Headers, HTTPError, Request, Response
from webduo.core.metrics import UNMATCHED, Metrics, process_metrics
from webduo.core.middleware import CustomHeaderMiddleware, Middleware, RequestIdMiddleware
from webduo.core.routing import RouteTable


logger = logging.getLogger("webduo.app")
access_logger = logging.getLogger("webduo.access")

# RFC 9110 §5.1 / §5.5: what a header may hold on the wire. A response breaking this (an endpoint
# putting CR LF in a value) would split into two responses: it is answered as a 500 instead.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class App:
    """One request in, one response out, for either engine."""

    def __init__(self, routes: RouteTable, middleware: Sequence[Middleware], metrics: Metrics | None = None) -> None:
        self.routes = routes
        self.middleware = tuple(middleware)
        self.metrics = metrics
        self.last_resort = self._last_resort()

    def respond(self, request: Request, runtime: Runtime) -> Response:
        """The response to ``request``, performing the endpoint's effects by blocking."""
        started = self.start(request)
        return started if isinstance(started, Response) else started.finish(runtime)

    async def arespond(self, request: Request, runtime: Runtime) -> Response:
        """The response to ``request``, performing the endpoint's effects by awaiting."""
        started = self.start(request)
        return started if isinstance(started, Response) else await started.afinish(runtime)

    def start(self, request: Request) -> Response | Pending:
        """Everything up to the endpoint's first wait: the response, or the :class:`Pending` rest.

        Inbound middleware, routing and the endpoint run until it completes or asks for its
        first effect; an endpoint that never waits (or fails before it does) is answered here.
        """
        started = time.perf_counter()
        route = UNMATCHED
        try:
            request = self._begin(request)
            try:
                resolved = self.routes.resolve(request.method, request.path)
                route = resolved.name
                result = resolved.endpoint(request)
                # A plain function's response needs no driver; a generator runs to its first effect.
                step = result if isinstance(result, Response) else resume(result)
            except Exception as exc:
                return self._complete(request, exc, started, route)
            if isinstance(step, Response):
                return self._complete(request, step, started, route)
            assert not isinstance(result, Response)  # noqa: S101 - a Response has no effects to yield
            return Pending(self, request, result, step, started, route)
        except Exception:
            return self._fail(request, started, route)

    def refuse(self, request: Request, error: HTTPError) -> Response:
        """The answer to a request the engine's parser refused, or that timed out.

        ``request`` is as much as was understood; it gets the middleware and the access log
        like any other, so a refusal carries the custom header and the request id.
        """
        started = time.perf_counter()
        try:
            return self._complete(self._begin(request), error, started, UNMATCHED)
        except Exception:
            return self._fail(request, started, UNMATCHED)

    # -- the steps ------------------------------------------------------------------------------

    def _begin(self, request: Request) -> Request:
        for layer in self.middleware:
            request = layer.on_request(request)
        return request

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a :class:`Pending` request's effects: counted as in flight meanwhile."""
        metrics = self.metrics
        if metrics is None:
            yield
            return
        metrics.in_flight.inc()
        try:
            yield
        finally:
            metrics.in_flight.dec()

    def conclude(self, request: Request, outcome: Response | Exception, started: float, route: str) -> Response:
        """The response to a :class:`Pending` request's outcome, or the last resort should that fail."""
        try:
            return self._complete(request, outcome, started, route)
        except Exception:
            return self._fail(request, started, route)

    def _complete(self, request: Request, outcome: Response | Exception, started: float, route: str) -> Response:
        """The response as sent: errors enveloped, outbound middleware applied, access logged."""
        response = outcome if isinstance(outcome, Response) else response_for_exception(outcome, request.request_id)
        # The middleware's own headers were checked when the last resort was built (constants),
        # or are safe by construction (request ids): only what the endpoint set needs a look.
        if not _sendable(response.headers):
            logger.error("%s %s: a response header is not valid on the wire", request.method, printable(request.path))
            response = response_for_exception(HTTPError(500), request.request_id)
        response = self._outbound(request, response)
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.answered(route, response.status, elapsed)
        if access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                "%s %s %d %dB %.1fms id=%s",
                request.method,
                printable(request.path),
                response.status,
                len(response.body),
                elapsed * 1000,
                request.request_id,
            )
        return response

    def _outbound(self, request: Request, response: Response) -> Response:
        for layer in reversed(self.middleware):
            response = layer.on_response(request, response)
        return response

    def _fail(self, request: Request, started: float, route: str) -> Response:
        """When the App itself failed (a middleware bug): the fixed 500, logged with its traceback."""
        logger.exception("the app failed to answer %s %s", request.method, printable(request.path))
        if self.metrics is not None:
            self.metrics.answered(route, self.last_resort.status, time.perf_counter() - started)
        return self.last_resort

    def _last_resort(self) -> Response:
        """The fixed 500 with whatever headers the middleware adds to every response.

        Built once, up front, so a broken request cannot break it; a middleware that fails
        here fails at start-up, not on the first unlucky request.
        """
        response = Response(LAST_RESORT_STATUS, Headers.of([("Content-Type", JSON_CONTENT_TYPE)]), LAST_RESORT_BODY)
        response = self._outbound(Request("-", "-"), response)
        if not _sendable(response.headers):
            raise ValueError("the middleware adds a header that is not valid on the wire")
        return response


class Pending:
    """A request whose endpoint is waiting on an effect: :meth:`App.start` has run everything before.

    Finish it once, by blocking or by awaiting. Only requests that wait count as in flight: one
    answered by ``start`` alone never outlives the call that parsed it.
    """

    __slots__ = ("_app", "_endpoint", "_request", "_route", "_started", "_step")

    def __init__(
        self, app: App, request: Request, endpoint: EndpointResult, step: Effect[Any], started: float, route: str
    ) -> None:
        self._app = app
        self._request = request
        self._endpoint = endpoint
        self._step = step
        self._started = started
        self._route = route

    @property
    def request(self) -> Request:
        """The request as the middleware left it (with its id)."""
        return self._request

    def finish(self, runtime: Runtime) -> Response:
        """Perform the effects by blocking; the response as sent."""
        with self._app.waiting():
            try:
                outcome: Response | Exception = drive_sync(self._endpoint, self._step, runtime)
            except Exception as exc:
                outcome = exc
        return self._app.conclude(self._request, outcome, self._started, self._route)

    async def afinish(self, runtime: Runtime) -> Response:
        """Perform the effects by awaiting; the response as sent."""
        with self._app.waiting():
            try:
                outcome: Response | Exception = await drive_async(self._endpoint, self._step, runtime)
            except Exception as exc:
                outcome = exc
        return self._app.conclude(self._request, outcome, self._started, self._route)


def _sendable(headers: Headers) -> bool:
    for field in headers.items:
        if field not in _SENDABLE:
            name, value = field
            if not (_TOKEN.fullmatch(name) and _FIELD_VALUE.fullmatch(value)):
                return False
            if len(_SENDABLE) < _SENDABLE_MAX:
                _SENDABLE.add(field)
    return True


# Header fields already found sendable. Endpoints mostly repeat a few constant fields
# (Content-Type, X-Cache), so the regexes run once per distinct field, not once per response.
_SENDABLE: Final[set[tuple[str, str]]] = set()
_SENDABLE_MAX: Final = 1024


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """``text`` with control characters escaped: a decoded ``%0A`` in a path must not forge a log line."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text) if _CONTROL.search(text) else text


def build_app(routes: RouteTable, header_name: str, header_value: str) -> App:
    """The middleware stack both engines use, outermost first, counting into this process's metrics."""
    return App(routes, [CustomHeaderMiddleware(header_name, header_value), RequestIdMiddleware()], process_metrics())
