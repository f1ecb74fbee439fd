"""``webduo serve --mode sync``: the listening socket, the banner, and one worker or a pre-fork master."""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
from collections.abc import Sequence
from types import FrameType
from typing import Final

from webduo.core.app import build_app
from webduo.core.logs import configure_logging
from webduo.core.routes import build_routes
from webduo.core.services import sync_services
from webduo.engines.banner import print_banner
from webduo.engines.sync.prefork import Master
from webduo.engines.sync.responder import Responder
from webduo.engines.sync.worker import Worker
from webduo.settings import Settings


logger = logging.getLogger("webduo.sync")

ENGINE: Final = "sync"
# The kernel queues this many finished handshakes per listening socket (capped by somaxconn).
BACKLOG: Final = 2048


def open_listener(settings: Settings) -> socket.socket:
    """The socket every worker accepts on: bound, listening, and (on Linux) deferring accept.

    ``TCP_DEFER_ACCEPT`` keeps a connection in the kernel until its first bytes arrive, so a
    client that connects and says nothing never reaches a worker.
    """
    listener = socket.create_server((settings.host, settings.sync_port), backlog=BACKLOG)
    if hasattr(socket, "TCP_DEFER_ACCEPT"):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, math.ceil(settings.head_timeout)))
    listener.set_inheritable(True)
    return listener


def run_worker(
    listener: socket.socket, settings: Settings, *, parent_pid: int | None = None, early_signals: Sequence[int] = ()
) -> None:
    """One worker: its own app and services (opened after fork), serving until told to stop."""
    app = build_app(build_routes(), settings.custom_header_name, settings.header_value_for(ENGINE))
    with sync_services(settings) as runtime:
        Worker(listener, Responder(app, runtime), settings, parent_pid=parent_pid).run(early_signals)


def serve(settings: Settings) -> None:
    """Serve until SIGTERM (graceful) or SIGINT (quick), then return normally."""
    early_signals = _record_stop_signals()
    configure_logging(settings.log_level, ENGINE)
    try:
        listener = open_listener(settings)
    except OSError as exc:  # port taken, no permission, unknown host: a message, not a traceback
        logger.error("cannot listen on %s:%d: %s", settings.host, settings.sync_port, exc.strerror or exc)
        raise SystemExit(1) from None
    try:
        _banner(listener, settings)
        if settings.workers == 1:
            run_worker(listener, settings, early_signals=early_signals)
        else:
            master_pid = os.getpid()
            Master(
                settings.workers,
                settings.graceful_timeout,
                lambda: run_worker(listener, settings, parent_pid=master_pid),
            ).run(early_signals)
    finally:
        listener.close()


def _record_stop_signals() -> list[int]:
    """Record SIGTERM/SIGINT from before the worker or master installs its handlers.

    A client may see the port open (and a supervisor may signal) before the loop runs; without
    this such a signal would kill the process with the default action instead of stopping it.
    The recording handler stays until the loop replaces it and replays the list.
    """
    received: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, record)
    return received


def _banner(listener: socket.socket, settings: Settings) -> None:
    host, port = listener.getsockname()[:2]
    threads = "1 thread (one request at a time)" if settings.threads == 1 else f"{settings.threads} threads"
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    print_banner(ENGINE, f"[{host}]" if ":" in host else host, port, os.getpid(), details=f"{workers} x {threads}")
