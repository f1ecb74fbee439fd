"""aiohttp's connection handling, with webduo's sans-IO HTTP/1.1 parser and writer at both ends.

This is the one module that reaches into aiohttp's internals; ``tests/engines/aio/test_protocol.py``
pins every name it relies on and fails loudly when an aiohttp upgrade changes one.

Why our parser rather than aiohttp's: parity. llhttp and ``webduo.engines.http1.parser`` disagree
on what they accept (bare LF, missing Host, ``HTTP/2.0``, fragments, ...), on which error shows
first, on statuses (llhttp answers 400 where RFC 9112 gives 414, 431 or 505) and on every
message. Mapping one onto the other would be a table of guesses that drifts with each release;
one parser makes the two engines refuse the same bytes with the same answer by construction.

What aiohttp keeps doing, and does well: the asyncio protocol, the per-connection task, the
pipelining queue and its flow control, keep-alive between requests, graceful shutdown, and the
runner and sites. Where it meets our code:

- ``RequestHandler._parser`` is replaced by :class:`ParserBridge`, which has the few methods
  ``RequestHandler`` calls on a parser (``feed_data``, ``message_consumed``, ``pause_reading``)
  and hands over complete requests, or an ``_ErrInfo`` for a refused one.
- ``RequestHandler.handle_error`` receives those refusals (and any failure of our handler) and
  answers them through the App, like the sync engine does.
- ``RequestHandler._process_keepalive`` (aiohttp's idle timer) is held back while a request is
  half received: the head and body deadlines are ours, as in the sync engine.
- The "request" aiohttp carries between its steps is a :class:`Exchange`: aiohttp only calls
  ``_finish``/``_cancel`` on it and sets ``_task``. A full ``BaseRequest`` (URL, headers multidict)
  would be built per request for nothing.

Most requests never reach aiohttp's queue at all. When a connection has nothing in flight, a
complete request is answered in the ``data_received`` callback that parsed it: :meth:`App.start`
runs it, and only a request whose endpoint waits (an upstream call, a timer, the CPU pool) goes
on to aiohttp's per-request task, carrying its :class:`~webduo.core.app.Pending` rest. The task,
the future it waits on and the loop turn between cost more than the whole App does for
``/hello``; answering in place is what puts this engine level with a bare aiohttp app although
its parser is Python and aiohttp's is C. Order is kept: once one request of a connection is
queued, every later one queues behind it.

An answer made in place is not written at once but at the end of the loop's turn, together with
every other connection's (:meth:`Engine.write_soon`). Under load one turn reads many connections;
writing each answer the moment it is made puts a send system call, and the wake-up of the
client it causes, between every two parses, where aiohttp's tasks write only after the turn's
reads. Written together, a ``wrk -c64`` run costs about half the kernel time per request
(bench/README.md). Any other write on a connection writes what it holds first, so bytes keep
their order, and so does every path that closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, Final, NamedTuple, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from webduo.core.app import App, Pending
from webduo.core.effects import Runtime
from webduo.core.http import Request
from webduo.engines.http1.exchange import Timeouts, deadline_error, encode, refusal
from webduo.engines.http1.parser import NEED_DATA, Message, ParserLimits, ProtocolError, RequestHead, RequestParser
from webduo.engines.http1.writer import CONTINUE
from webduo.engines.listener import LINGER_SECONDS


logger = logging.getLogger("webduo.aio")

# Past this much unsent data a response waits for the client to read, within the send timeout.
WRITE_HIGH_WATER: Final = 64 * 1024


class Engine:
    """What every connection of one event-loop process shares."""

    def __init__(
        self,
        app: App,
        runtime: Runtime,
        limits: ParserLimits,
        timeouts: Timeouts,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.limits = limits
        self.timeouts = timeouts
        self.stopping = False  # set when a stop begins: answers from then on close their connection
        self._holding: list[Connection] = []  # connections with answers to write at the end of this turn

    def write_soon(self, connection: Connection) -> None:
        """Flush ``connection`` at the end of this loop turn, with every other that answered in it."""
        if not self._holding:
            asyncio.get_running_loop().call_soon(self._flush)
        self._holding.append(connection)

    def _flush(self) -> None:
        holding, self._holding = self._holding, []
        for connection in holding:
            try:
                connection.flush()
            except Exception:  # one broken transport must not keep the others' answers back
                logger.exception("cannot write to %s", connection.client)


class Queued(NamedTuple):
    """A request put on aiohttp's queue: its message, and its :class:`Pending` rest once started."""

    message: Message
    pending: Pending | None = None


class Exchange:
    """One request as aiohttp carries it from its queue to our handler and back."""

    __slots__ = ("_task", "connection", "queued", "writer")

    def __init__(self, connection: Connection, queued: Queued | None, writer: AbstractStreamWriter) -> None:
        self.connection = connection
        self.queued = queued  # None for a refused request: aiohttp passes its ERROR sentinel
        self.writer = writer
        self._task: asyncio.Task[None] | None = None

    def _finish(self) -> None:
        """aiohttp: the response is about to be written. Nothing is held that needs releasing."""

    def _cancel(self, exc: BaseException) -> None:
        """aiohttp: the connection was lost. The body was read whole, so no reader waits on it."""


class WireResponse(web.StreamResponse):
    """A response already framed by webduo's writer: aiohttp sends these bytes and nothing else."""

    def __init__(self, connection: Connection, data: bytes, *, keep_alive: bool, linger: bool = False) -> None:
        super().__init__()
        self._connection = connection
        self._data = data
        self._stays_open = keep_alive
        self._linger = linger

    @property
    def keep_alive(self) -> bool:
        return self._stays_open

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self._connection.send(self._data):
            await self._connection.drain()
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        if self._connection.response_sent(linger=self._linger):
            await self._connection.linger()


class ParserBridge:
    """webduo's parser behind the interface ``RequestHandler`` expects of aiohttp's own."""

    def __init__(self, connection: Connection, limits: ParserLimits) -> None:
        self.connection = connection
        self.parser = RequestParser(limits)
        self.expired: ProtocolError | None = None  # set by a deadline; the next feed answers it
        self.failed = False

    def feed_data(self, data: bytes) -> tuple[list[tuple[Any, Any]], bool, bytes]:
        """``(messages, upgraded, tail)``: complete requests, or one refusal after which nothing more."""
        if self.failed:
            return [], False, b""  # lingering after a refusal: the client's leftovers are dropped
        parser = self.parser
        if data:
            parser.feed(data)
        messages: list[tuple[Any, Any]] = []
        while True:
            if self.expired is not None:
                return self._refuse(messages, self.expired)
            try:
                event = parser.next_event()
            except ProtocolError as error:
                return self._refuse(messages, error)
            if event is NEED_DATA:
                break
            if isinstance(event, RequestHead):
                self.connection.body_started(event, queued_ahead=bool(messages))
                continue
            queued = self.connection.answer_now(event) if not messages else Queued(event)
            if queued is not None:
                messages.append((queued, EMPTY_PAYLOAD))
            elif self.connection.closing:
                break  # answered, and the connection closes after it: the rest is dropped
        self.connection.parsed(len(messages))
        return messages, False, b""

    def _refuse(
        self, messages: list[tuple[Any, Any]], error: ProtocolError
    ) -> tuple[list[tuple[Any, Any]], bool, bytes]:
        self.failed = True
        messages.append((_ErrInfo(status=error.status, exc=error, message=str(error)), EMPTY_PAYLOAD))
        self.connection.parsed(len(messages))
        return messages, False, b""

    def message_consumed(self) -> None:
        """aiohttp took a message off its queue; ours has no separate queue to advance."""

    def pause_reading(self) -> None:
        """aiohttp pauses the transport itself; the parser holds nothing that keeps arriving."""

    def feed_eof(self) -> None:
        """The client closed; a partial request dies with the connection, unanswered."""


class Connection(RequestHandler):
    """aiohttp's per-connection protocol, speaking HTTP/1.1 through webduo's parser and App."""

    def __init__(self, manager: web.Server, *, engine: Engine, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self.engine = engine
        self.bridge = ParserBridge(self, engine.limits)
        # RequestHandler calls these methods on whatever parser it holds; see ParserBridge.
        self._parser = cast(Any, self.bridge)
        self.in_flight = 0  # requests handed to aiohttp's queue and not yet answered
        self.deadline: asyncio.TimerHandle | None = None  # the head or body deadline
        self.send_deadline: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = loop.create_future()
        self._client: str | None = None
        self.unsent = b""  # answers made in place, written when the loop turn ends (Engine.write_soon)
        self.half_closed = False  # the client sent its end of input; the transport stays open to answer
        self.continue_owed = False  # a 100 Continue that waits for the answers queued ahead of it

    @property
    def client(self) -> str:
        """``host:port`` of the peer, as the access log and the App see it (formatted once)."""
        client = self._client
        if client is None:
            peer = self.peername
            client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
            if peer is not None:
                self._client = client
        return client

    @property
    def closing(self) -> bool:
        return self._force_close or self._close

    # -- called by the bridge -------------------------------------------------------------------

    def parsed(self, count: int) -> None:
        self.in_flight += count
        if count:
            self._disarm()
        elif self.in_flight == 0 and self.bridge.parser.in_message and self.deadline is None:
            self._arm(self.engine.timeouts.head)

    def body_started(self, head: RequestHead, *, queued_ahead: bool) -> None:
        self._disarm()
        self._arm(self.engine.timeouts.body)
        if head.expect_continue:
            # RFC 9110 §10.1.1: the client waits for this before it sends the body; after the
            # answers to its earlier requests, which it may be reading in order.
            if self.in_flight or queued_ahead:
                self.continue_owed = True
            else:
                self._send_continue()

    def _send_continue(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.flush()
            self.transport.write(CONTINUE)

    def answer_now(self, message: Message) -> Queued | None:
        """Answer ``message`` in this callback when nothing is ahead of it; else what to queue.

        Queued instead: a request behind one still being answered (order), one that closes the
        connection or arrives while the engine stops (aiohttp's task closes it after the answer),
        one arriving while the client is not reading (its answer waits for the send deadline),
        and one whose endpoint waits (it goes on, started, as a task).
        """
        engine = self.engine
        if self.in_flight or self._paused or not message.keep_alive or engine.stopping:
            return Queued(message)
        request = message.to_request(self.client)
        started = engine.app.start(request)
        if isinstance(started, Pending):
            return Queued(message, started)
        data, keep_alive = encode(engine.app, request, started, keep_alive=True)
        transport = self.transport
        if transport is None or transport.is_closing():
            return None  # the client left meanwhile: nobody to answer
        if not self.unsent:
            engine.write_soon(self)
        self.unsent += data
        if len(self.unsent) > WRITE_HIGH_WATER:
            self.flush()  # a large answer goes now: the client's pace (paused writing) then decides the rest
        if not keep_alive:  # the response did not serialise; the fixed 500 went out instead
            self.bridge.failed = True
            self.force_close()
            return None
        self._idle_from_now()
        return None

    # -- deadlines ------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        # Held back from aiohttp's idle timer, which would close the connection without a word.
        self.keep_alive(True)
        self.deadline = self._loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expire(self) -> None:
        self.deadline = None
        if self.in_flight == 0 and self.bridge.parser.in_message:
            parser = self.bridge.parser
            self.bridge.expired = deadline_error(parser, self.engine.timeouts)
            self.data_received(b"")  # the bridge hands over the 408 as a refusal

    def _idle_from_now(self) -> None:
        """aiohttp's idle timer, as its task arms it after an answer: the keep-alive timeout starts now."""
        loop = self._loop
        self._next_keepalive_close_time = loop.time() + self._keepalive_timeout
        if self._keepalive_handle is None:
            self._keepalive_handle = loop.call_at(self._next_keepalive_close_time, self._process_keepalive)

    def _process_keepalive(self) -> None:
        if self.bridge.parser.in_message or self._paused:
            # Not idle: a request has begun (its deadline is ours), or the client has not read its
            # answer (the send deadline's; closing would wait on the client for ever to send it).
            self._keepalive_handle = None
            return
        super()._process_keepalive()

    # -- writing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the answers made in place that wait for the end of the loop turn, if any."""
        data = self.unsent
        if not data:
            return
        self.unsent = b""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def send(self, data: bytes) -> bool:
        """Hand ``data`` to the transport; True when the client is behind and :meth:`drain` must wait."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away before its response")
        self.flush()
        transport.write(data)
        return transport.get_write_buffer_size() > WRITE_HIGH_WATER

    async def drain(self) -> None:
        """Wait until the client takes what it was sent; the send deadline (:meth:`pause_writing`) bounds it."""
        await self._drain_helper()
        if self.transport is None:
            raise ConnectionResetError("the client went away before reading its response")

    def pause_writing(self) -> None:
        """The transport holds more than its high-water mark: the client has this long to read it.

        Armed here rather than around each wait, so an answer written in place, which nothing
        awaits, is bounded too.
        """
        super().pause_writing()
        self._disarm_send()
        self.send_deadline = self._loop.call_later(self.engine.timeouts.send, self._send_expired)

    def resume_writing(self) -> None:
        self._disarm_send()
        super().resume_writing()
        self._idle_from_now()  # the client has read its answers: idle from here, if nothing else is on

    def _disarm_send(self) -> None:
        if self.send_deadline is not None:
            self.send_deadline.cancel()
            self.send_deadline = None

    def _send_expired(self) -> None:
        self.send_deadline = None
        logger.info("%s did not read its response within %g s", self.client, self.engine.timeouts.send)
        if self.transport is not None:
            self.transport.abort()

    def response_sent(self, *, linger: bool) -> bool:
        """Book the response as sent; True when the connection must linger before it closes."""
        self.in_flight -= 1
        if self.in_flight:
            return linger
        if self.half_closed and not linger:
            # The last answer to a client that has said all it will: nothing more can come.
            self.flush()
            if self.transport is not None:
                self.transport.close()
            return False
        if self.continue_owed and not linger:
            self.continue_owed = False
            if self.bridge.parser.reading_body:
                self._send_continue()
        if not linger:
            self.parsed(0)  # the next request may have begun meanwhile: its head deadline starts now
        return linger

    async def linger(self) -> None:
        """Half-close and drain the client's leftovers for a moment before closing (RFC 9112 §9.6).

        Closing with unread bytes makes the kernel send RST, and a client still sending its
        body may then lose the error response it was sent.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.flush()
        with contextlib.suppress(OSError, RuntimeError):
            transport.write_eof()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), LINGER_SECONDS)

    def force_close(self) -> None:
        self.flush()  # what was answered goes out before the close; the transport sends it first
        super().force_close()

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio's contract; aiohttp annotates None
        """The client half-closed: answer what it asked, then close.

        Returning False lets the transport close at once, after sending what it holds; with
        requests still queued it must stay open to write their answers.
        """
        self.flush()
        if self.in_flight:
            self.half_closed = True
            return True
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.unsent = b""
        self._disarm()
        self._disarm_send()
        if not self.closed.done():
            self.closed.set_result(None)
        super().connection_lost(exc)

    # -- answering ------------------------------------------------------------------------------

    async def answer(self, exchange: Exchange) -> web.StreamResponse:
        queued = exchange.queued
        assert queued is not None  # noqa: S101 - refusals go to handle_error, never here
        engine = self.engine
        message, pending = queued
        if pending is None:
            request = message.to_request(self.client)
            response = await engine.app.arespond(request, engine.runtime)
        else:
            request = pending.request
            response = await pending.afinish(engine.runtime)
        data, keep_alive = encode(engine.app, request, response, keep_alive=message.keep_alive and not engine.stopping)
        return WireResponse(self, data, keep_alive=keep_alive)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's one exit for refused requests and failed handlers, answered by the App."""
        app = self.engine.app
        if isinstance(exc, ProtocolError):
            data = refusal(app, self.bridge.parser, self.client, exc)
        else:
            # Not reachable through the App, which answers its own failures; kept for our bugs.
            logger.error("the async engine failed to answer (%s)", status, exc_info=exc)
            data, _ = encode(app, Request("-", "-"), app.last_resort, keep_alive=False)
        return WireResponse(self, data, keep_alive=False, linger=True)


class Server(web.Server):
    """aiohttp's low-level server, making :class:`Connection` protocols and :class:`Exchange` requests."""

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(self._handle, request_factory=self._exchange, **kwargs)
        self.engine = engine

    def __call__(self) -> Connection:
        return Connection(self, engine=self.engine, loop=self._loop, **self._kwargs)

    @staticmethod
    def _exchange(
        message: Any, payload: Any, protocol: RequestHandler, writer: AbstractStreamWriter, task: Any
    ) -> web.BaseRequest:
        connection = cast(Connection, protocol)
        exchange = Exchange(connection, message if isinstance(message, Queued) else None, writer)
        return cast(web.BaseRequest, exchange)  # aiohttp only calls _finish/_cancel and sets _task on it

    @staticmethod
    def _handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        exchange = cast(Exchange, request)
        return exchange.connection.answer(exchange)
