"""``webduo serve --mode sync``: the listening socket, the banner, and one worker or a pre-fork master."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Final

from webduo.core.app import build_app
from webduo.core.routes import build_routes
from webduo.engines.banner import print_banner
from webduo.engines.heap import freeze_startup_heap
from webduo.engines.listener import open_listener as bind
from webduo.engines.logs import configure_logging
from webduo.engines.prefork import record_stop_signals, run_pool
from webduo.engines.sync.responder import Responder
from webduo.engines.sync.services import sync_services
from webduo.engines.sync.worker import Worker
from webduo.settings import Settings


ENGINE: Final = "sync"


def open_listener(settings: Settings) -> socket.socket:
    """The sync engine's socket; it defers accept for up to the head timeout."""
    return bind(settings.host, settings.sync_port, defer_accept=settings.head_timeout)


def run_worker(
    listener: socket.socket, settings: Settings, *, parent_pid: int | None = None, early_signals: Sequence[int] = ()
) -> None:
    """One worker: its own app and services (opened after fork), serving until told to stop."""
    app = build_app(
        build_routes(settings.custom_header_name), settings.custom_header_name, settings.header_value_for(ENGINE)
    )
    with sync_services(settings) as runtime:
        worker = Worker(listener, Responder(app, runtime), settings, parent_pid=parent_pid)
        freeze_startup_heap()
        worker.run(early_signals)


def serve(settings: Settings) -> None:
    """Serve until SIGTERM (graceful) or SIGINT (quick), then return normally.

    Raises :class:`~webduo.engines.errors.StartupError` when the port cannot be bound.
    """
    early_signals = record_stop_signals()
    configure_logging(settings.log_level, ENGINE)
    listener = open_listener(settings)
    try:
        _banner(listener, settings)
        if settings.workers == 1:
            run_worker(listener, settings, early_signals=early_signals)
        else:
            run_pool(
                settings.workers,
                settings.graceful_timeout,
                settings.metrics_dir,
                lambda early, master: run_worker(listener, settings, parent_pid=master, early_signals=early),
                early_signals,
            )
    finally:
        listener.close()


def _banner(listener: socket.socket, settings: Settings) -> None:
    host, port = listener.getsockname()[:2]
    threads = "1 thread (one request at a time)" if settings.threads == 1 else f"{settings.threads} threads"
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    print_banner(ENGINE, f"[{host}]" if ":" in host else host, port, os.getpid(), details=f"{workers} x {threads}")
