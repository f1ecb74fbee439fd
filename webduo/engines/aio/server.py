"""``webduo serve --mode async``: the shared App on aiohttp's low-level server, one event loop a process.

No aiohttp ``Application``, router or middleware: :mod:`webduo.engines.aio.protocol` hands every
request, well-formed or not, to the same App the sync engine calls, and effects are awaited.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Final

from aiohttp import web

from webduo.core.app import build_app
from webduo.core.routes import build_routes
from webduo.engines.aio.protocol import Engine, Server
from webduo.engines.aio.services import async_services
from webduo.engines.aio.sharing import SharedSocketSite
from webduo.engines.heap import freeze_startup_heap
from webduo.engines.http1.exchange import Timeouts
from webduo.engines.http1.parser import ParserLimits
from webduo.engines.listener import open_listener, reserve_port
from webduo.engines.prefork import record_stop_signals, run_pool
from webduo.settings import Settings


logger = logging.getLogger("webduo.aio")

ENGINE: Final = "async"
# How often a pre-forked worker checks that its master is still there.
ORPHAN_POLL_SECONDS: Final = 1.0


def serve(settings: Settings) -> None:
    """Run the async engine in the foreground until SIGINT/SIGTERM; returns when stopped.

    ``--workers N`` pre-forks N event-loop processes with the same master as the sync engine,
    on one listening socket, or with ``reuse_port`` each on its own ``SO_REUSEPORT`` socket
    (see :func:`~webduo.engines.listener.reserve_port`). Raises
    :class:`~webduo.engines.errors.StartupError` when the port cannot be bound.
    """
    from webduo.engines.banner import print_banner
    from webduo.engines.logs import configure_logging

    early_signals = record_stop_signals()
    configure_logging(settings.log_level, ENGINE)
    own_sockets = settings.reuse_port and settings.workers > 1
    if own_sockets:
        listener = reserve_port(settings.host, settings.async_port)
    else:
        listener = open_listener(settings.host, settings.async_port, defer_accept=settings.head_timeout)
    with listener:
        host, port = listener.getsockname()[:2]
        plural = "es" if settings.workers > 1 else ""
        details = f"{settings.workers} event-loop process{plural} ({loop_name(settings.loop)})"
        print_banner(ENGINE, host, port, os.getpid(), details=details)
        if settings.workers == 1:
            run_worker(listener, settings, early_signals)
        else:
            run_pool(
                settings.workers,
                settings.graceful_timeout,
                settings.metrics_dir,
                lambda early, master: run_worker(
                    own_listener(listener, settings) if own_sockets else listener,
                    settings,
                    early,
                    parent_pid=master,
                    shared=not own_sockets,
                ),
                early_signals,
            )


def own_listener(reserved: socket.socket, settings: Settings) -> socket.socket:
    """A pre-forked worker's own listening socket on the master's reserved address."""
    host, port = reserved.getsockname()[:2]  # the port the master got, should it have asked for 0
    reserved.close()  # the worker's copy: only the master holds the reservation
    return open_listener(host, port, defer_accept=settings.head_timeout, reuse_port=True)


def run_worker(
    listener: socket.socket,
    settings: Settings,
    early_signals: Sequence[int],
    *,
    parent_pid: int | None = None,
    shared: bool = False,
) -> None:
    """One event loop serving ``listener`` until SIGINT/SIGTERM (or its master's death).

    ``shared``: other workers accept from ``listener`` too (see :mod:`webduo.engines.aio.sharing`).
    """
    main = serve_forever(listener, settings, early_signals, parent_pid, shared)
    factory = loop_factory(settings.loop)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main)
    else:  # pragma: no cover - Python 3.10 has no Runner; this is what asyncio.run does there
        loop = factory()
        try:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(main)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    logger.info("async worker %d stopped", os.getpid())


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """``auto``: uvloop where it is installed (``webduo[uvloop]``), else asyncio's own loop."""
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            logger.error("--loop uvloop: uvloop is not installed; pip install 'webduo[uvloop]'")
            raise SystemExit(2) from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name(choice: str) -> str:
    """What ``choice`` resolves to here, for the banner."""
    return "asyncio" if loop_factory(choice) is asyncio.new_event_loop else "uvloop"


async def serve_forever(
    listener: socket.socket, settings: Settings, early_signals: Sequence[int], parent_pid: int | None, shared: bool
) -> None:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def request_stop(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, request_stop, stop_signal)
    for early in early_signals:  # a stop that came before the handlers counts as if now
        request_stop(early)

    app = build_app(
        build_routes(settings.custom_header_name), settings.custom_header_name, settings.header_value_for(ENGINE)
    )
    async with async_services(settings) as runtime:
        engine = Engine(app, runtime, ParserLimits.from_settings(settings), Timeouts.from_settings(settings))
        # access_log=None: the App logs every request, refusals included.
        server = Server(engine, keepalive_timeout=settings.keepalive_timeout, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=settings.graceful_timeout)
        await runner.setup()
        await (SharedSocketSite(runner, listener) if shared else web.SockSite(runner, listener)).start()
        freeze_startup_heap()
        watch = asyncio.create_task(watch_master(parent_pid, request_stop)) if parent_pid is not None else None
        try:
            await stop
        finally:
            engine.stopping = True
            if watch is not None:
                watch.cancel()
            await runner.cleanup()


async def watch_master(parent_pid: int, request_stop: Callable[[int], None]) -> None:
    """Stop this worker when its master is gone: nobody would stop or replace it any more."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(ORPHAN_POLL_SECONDS)
    logger.warning("master %d is gone; stopping worker %d", parent_pid, os.getpid())
    request_stop(signal.SIGTERM)
