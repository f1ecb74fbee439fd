"""The asynchronous engine: the shared route table served by aiohttp.

aiohttp does the HTTP; this module only translates at the edge. Each core route is
registered with aiohttp's router, one ``@web.middleware`` runs the core middleware around
every response — aiohttp's own 404/405/413 included — and effects are awaited with
:func:`~webduo.core.effects.run_async`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from webduo.core.app import App, Exchange, build_app
from webduo.core.effects import Runtime, run_async
from webduo.core.errors import LAST_RESORT_BODY, LAST_RESORT_STATUS, body_too_large, unsupported_expectation
from webduo.core.http import Headers, HTTPError, Request, Response
from webduo.core.routes import build_routes
from webduo.core.routing import Route, method_not_allowed, not_found
from webduo.engines.aio.services import async_services
from webduo.engines.listener import LINGER_SECONDS, open_listener
from webduo.engines.prefork import Master, record_stop_signals
from webduo.settings import Settings


logger = logging.getLogger("webduo.aio")

ENGINE = "async"
CORE_APP = web.AppKey("core_app", App)
SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
EXCHANGE = web.RequestKey("exchange", Exchange)


def create_app(settings: Settings) -> web.Application:
    """An aiohttp application serving the core route table with the core middleware."""
    core = build_app(build_routes(), settings.custom_header_name, settings.header_value_for(ENGINE))
    app = web.Application(
        middlewares=[core_middleware],
        client_max_size=settings.max_body_size,
        # aiohttp's parser enforces these itself (answering 400, not 414/431: its own responses).
        handler_args={
            "max_line_size": settings.max_request_line,
            "max_headers": settings.max_header_count,
            "max_field_size": settings.max_header_block,
            # Drain a refused body for at most as long as the sync engine lingers (aiohttp: 10 s).
            "lingering_time": LINGER_SECONDS,
        },
    )
    app[CORE_APP] = core
    app[SETTINGS] = settings
    for route in core.routes:
        if route.method == "GET":
            app.router.add_get(route.path, route_handler(route), name=route.name, expect_handler=expect_continue)
        else:
            app.router.add_route(
                route.method, route.path, route_handler(route), name=route.name, expect_handler=expect_continue
            )
    app.cleanup_ctx.append(services_context)
    return app


async def services_context(app: web.Application) -> AsyncIterator[None]:
    """Open the per-process services (weather client, process pool) for the app's lifetime."""
    async with async_services(app[SETTINGS]) as runtime:
        app[RUNTIME] = runtime
        yield


@web.middleware
async def core_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response passes here: envelopes errors, adds the middleware headers, logs access."""
    core = request.app[CORE_APP]
    exchange = core.begin(to_core_request(request))
    request[EXCHANGE] = exchange
    outcome: Response | BaseException
    refused = unsupported_expectation(request.headers.get(hdrs.EXPECT, ""))
    try:
        if refused is not None:
            raise refused
        outcome = core_response_of(await handler(request))
    except web.HTTPException as framework_error:
        outcome = translate_framework_error(framework_error, request)
    except Exception as exc:
        outcome = exc
    try:
        response = to_aiohttp_response(core.complete(exchange, outcome))
    except Exception:
        logger.exception("the app failed to answer %s %s", request.method, request.path)
        response = web.Response(status=LAST_RESORT_STATUS, body=LAST_RESORT_BODY, content_type="application/json")
        response.force_close()
        return response
    if response.status == 413:
        # The body was refused unread: draining up to a gigabyte just to keep the connection is
        # not worth it, so close it — as the sync engine does.
        response.force_close()
    return response


class CoreResult(web.StreamResponse):
    """What a route handler hands back to :func:`core_middleware`: the core response, unconverted.

    It never reaches the wire. The middleware converts the final response to aiohttp's once,
    after the outbound middleware; converting here too cost a second ``web.Response`` a request.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(status=response.status)
        self.core = response


def core_response_of(result: web.StreamResponse) -> Response:
    if not isinstance(result, CoreResult):
        raise TypeError(f"route handlers return CoreResult, got {type(result).__name__}")
    return result.core


async def expect_continue(request: web.Request) -> None:
    """Answer ``Expect: 100-continue`` with 100 and let anything else through to the middleware.

    aiohttp's default expect handler runs before the middleware and refuses other expectations
    with its own plain-text 417; the middleware refuses them instead, in the shared envelope.
    """
    if request.version == HttpVersion11 and request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the 100 is not part of the response proper


def route_handler(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        core_request = request[EXCHANGE].request.with_body(await read_body(request))
        return CoreResult(await run_async(route.endpoint(core_request), request.app[RUNTIME]))

    handle.__name__ = f"handle_{route.name}"
    return handle


async def read_body(request: web.Request) -> bytes:
    """The whole body, refused up front when its declared length is over the limit."""
    if not request.body_exists:
        return b""
    limit = request.app[SETTINGS].max_body_size
    if request.content_length is not None and request.content_length > limit:
        raise body_too_large(limit)
    return await request.read()  # aiohttp stops a chunked body at client_max_size (413)


def translate_framework_error(error: web.HTTPException, request: web.Request) -> HTTPError:
    """aiohttp's own errors (router 404/405, body 413, ...) as the same core errors the sync engine raises."""
    if isinstance(error, web.HTTPMethodNotAllowed):
        return method_not_allowed(request.method, request.path, error.allowed_methods)
    if error.status == 404:
        return not_found(request.path)
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return body_too_large(request.app[SETTINGS].max_body_size)
    return HTTPError(error.status, error.text or None)


def to_core_request(request: web.Request) -> Request:
    return Request(
        method=request.method,
        path=request.path,
        query_string=request.rel_url.raw_query_string,
        headers=Headers.of((name, as_latin1(value)) for name, value in request.headers.items()),
        http_version=f"{request.version.major}.{request.version.minor}",
        client=request.remote or "",
    )


def as_latin1(value: str) -> str:
    """A header value as the sync parser sees it: each byte one character (ISO-8859-1).

    aiohttp decodes values as UTF-8 and keeps undecodable bytes as lone surrogates, which no
    response can encode; re-reading the original bytes as Latin-1 gives both engines the same
    string for the same bytes. ASCII, the usual case, is returned as it is.
    """
    return value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("latin-1")


def to_aiohttp_response(response: Response) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=CIMultiDict(response.headers.items))


class MalformedRequestLogFilter(logging.Filter):
    """aiohttp logs a client's malformed request as a server error with a traceback: one line suffices.

    Its parser answers such requests itself (400, plain text) before any middleware runs, so
    this is the one place the async engine's console sees them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            first_line = (error.message or "").strip().splitlines()[:1]
            record.args = (record.getMessage(), error.code, first_line[0] if first_line else "")
            record.msg = "%s: %d %s"
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def serve(settings: Settings) -> None:
    """Run the async engine in the foreground until SIGINT/SIGTERM; returns when stopped.

    ``--workers N`` pre-forks N event-loop processes on one listening socket, with the same
    master as the sync engine, so the two are compared with the same process model.
    """
    from webduo.engines.banner import print_banner
    from webduo.engines.logs import configure_logging

    early_signals = record_stop_signals()
    configure_logging(settings.log_level, ENGINE)
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestLogFilter())
    try:
        listener = open_listener(settings.host, settings.async_port)
    except OSError as exc:  # port taken, no permission, unknown host: a message, not a traceback
        logger.error("cannot listen on %s:%d: %s", settings.host, settings.async_port, exc.strerror or exc)
        raise SystemExit(1) from None
    with listener:
        host, port = listener.getsockname()[:2]
        plural = "es" if settings.workers > 1 else ""
        print_banner(ENGINE, host, port, os.getpid(), details=f"{settings.workers} event-loop process{plural}")
        if settings.workers == 1:
            run_worker(listener, settings, early_signals)
        else:
            master_pid = os.getpid()
            Master(
                settings.workers,
                settings.graceful_timeout,
                lambda early: run_worker(listener, settings, early, parent_pid=master_pid),
            ).run(early_signals)


def run_worker(
    listener: socket.socket, settings: Settings, early_signals: Sequence[int], *, parent_pid: int | None = None
) -> None:
    """One event loop serving ``listener`` until SIGINT/SIGTERM (or its master's death)."""
    app = create_app(settings)

    async def replay_early_signals(_app: web.Application) -> None:
        # run_app has installed its own handlers by now: a stop that came before them is sent
        # again, so it takes the same graceful path as any other.
        for signum in dict.fromkeys(early_signals):
            os.kill(os.getpid(), signum)

    app.on_startup.append(replay_early_signals)
    if parent_pid is not None:
        app.cleanup_ctx.append(orphan_watch(parent_pid))
    web.run_app(
        app,
        sock=listener,
        print=None,
        access_log=None,  # the core middleware logs every request, errors included
        shutdown_timeout=settings.graceful_timeout,
        keepalive_timeout=settings.keepalive_timeout,
    )
    logger.info("async worker %d stopped", os.getpid())


def orphan_watch(parent_pid: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """Stop this worker when its master is gone: nobody would stop or replace it any more."""

    async def watch(_app: web.Application) -> AsyncIterator[None]:
        async def poll() -> None:
            while os.getppid() == parent_pid:
                await asyncio.sleep(1.0)
            logger.warning("master %d is gone; stopping worker %d", parent_pid, os.getpid())
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.create_task(poll())
        yield
        task.cancel()

    return watch
