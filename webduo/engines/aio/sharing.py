"""Accepting from a listening socket that several worker processes share, a few connections a turn.

Every pre-forked async worker waits on the same inherited socket, and the kernel wakes them all
when a connection arrives. The event loops' own accept loops then take every connection waiting
in the queue before they look at anything else (asyncio up to the backlog, libuv until the queue
is empty), so a burst of new connections, such as a load balancer's or wrk's 64 at start, tends
to land on whichever worker woke first: measured splits of 64/0 left one core idle. Taking at most
:data:`ACCEPTS_PER_TURN` each time the socket is readable lets the other worker, woken as well,
take the next ones, and a busy worker, whose turns are long, takes fewer: the load spreads.

Used only where there is sharing to do: one worker, and ``reuse_port`` workers (each with its
own socket, balanced by the kernel), keep the loop's own accept loop.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Final

from aiohttp import web


logger = logging.getLogger("webduo.aio")

# How long to stop accepting after running out of file descriptors or memory (EMFILE and the
# like), rather than spin on a socket that stays readable: asyncio's own accept loop waits as long.
ACCEPT_BACKOFF_SECONDS: Final = 1.0
ACCEPTS_PER_TURN: Final = 16
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class SharedSocketSite(web.BaseSite):
    """An aiohttp site on a listening socket other processes accept from too."""

    __slots__ = ("_sock",)

    def __init__(self, runner: web.BaseRunner, sock: socket.socket) -> None:
        super().__init__(runner)
        self._sock = sock

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None  # noqa: S101 - BaseSite refuses a runner that was not set up
        self._server = AcceptInTurns(self._sock, server, asyncio.get_running_loop())

    async def stop(self) -> None:
        """Stop accepting, then let the connections already accepted read what they were sent.

        aiohttp's runner closes every connection that has no request yet right after its sites
        stop: one still being made, or made but not yet read, would be closed unanswered though
        its client had sent a whole request.
        """
        acceptor = self._server
        await super().stop()
        if isinstance(acceptor, AcceptInTurns):
            await acceptor.wait_closed()  # every accepted socket has its protocol...
            for _ in range(2):  # ...and a loop turn to be polled, a turn to be read
                await asyncio.sleep(0)


class AcceptInTurns(asyncio.AbstractServer):
    """Accepts up to :data:`ACCEPTS_PER_TURN` connections from ``sock`` each time the loop finds it readable."""

    def __init__(
        self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._loop = loop
        self._serving = True
        self._closed = loop.create_future()
        self._connecting: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty: another worker took the rest
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    raise
                logger.error("cannot accept connections for %g s: %s", ACCEPT_BACKOFF_SECONDS, error)
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(ACCEPT_BACKOFF_SECONDS, self._resume)
                return
            connection.setblocking(False)
            task = self._loop.create_task(self._connect(connection))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except OSError:  # reset before its transport was made: nothing to answer
            connection.close()

    def _resume(self) -> None:
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting; connections already made are the runner's to close."""
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._sock.fileno())
            self._closed.set_result(None)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        """Accepting starts as it is made."""

    async def serve_forever(self) -> None:
        await asyncio.shield(self._closed)

    async def wait_closed(self) -> None:
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)
