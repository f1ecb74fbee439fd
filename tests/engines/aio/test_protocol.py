"""The aiohttp internals ``webduo.engines.aio.protocol`` relies on, pinned so an upgrade fails here, loudly.

If a test here fails after an aiohttp upgrade, read the new ``aiohttp/web_protocol.py`` and
``web_server.py`` and check each seam listed in the protocol module's docstring before
changing the expectation: the wire suites would otherwise fail in far less obvious ways.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from webduo.core.app import build_app
from webduo.core.effects import Runtime
from webduo.core.routes import build_routes
from webduo.engines.aio.protocol import Connection, Engine, Server
from webduo.engines.http1.exchange import Timeouts
from webduo.engines.http1.parser import ParserLimits


def source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


def test_the_handler_feeds_whatever_parser_it_holds() -> None:
    # ParserBridge stands in for aiohttp's parser: these are the calls it must answer.
    assert "self._parser.feed_data(data)" in source(RequestHandler.data_received)
    assert "self._parser.message_consumed()" in source(RequestHandler.start)
    assert "self._parser.pause_reading()" in inspect.getsource(aiohttp.base_protocol.BaseProtocol.pause_reading)


def test_refusals_reach_handle_error_through_err_info() -> None:
    start = source(RequestHandler.start)
    assert "isinstance(message, _ErrInfo)" in start
    assert "self._make_error_handler(message)" in start
    assert "err_info.status, err_info.exc, err_info.message" in source(RequestHandler._make_error_handler)
    assert {field.name for field in _ErrInfo.__attrs_attrs__} == {"status", "exc", "message"}


def test_the_request_object_needs_only_finish_cancel_and_task() -> None:
    # Exchange replaces BaseRequest: it must keep up with what aiohttp calls on "the request".
    assert "request._finish()" in source(RequestHandler.finish_response)
    assert "self._current_request._cancel(exc)" in source(RequestHandler.connection_lost)
    assert "request._task = None" in source(RequestHandler.start)
    assert "self._request_factory(" in source(RequestHandler.start)


def test_responses_are_prepared_written_and_asked_about_keep_alive() -> None:
    finish = source(RequestHandler.finish_response)
    assert "prepare_meth = resp.prepare" in finish
    assert "await resp.write_eof()" in finish
    assert "self._keepalive = bool(resp.keep_alive)" in source(RequestHandler.start)


def test_the_idle_timer_is_the_one_we_hold_back() -> None:
    keepalive = source(RequestHandler._process_keepalive)
    assert "self.force_close()" in keepalive
    assert "self._keepalive_handle = None" in source(RequestHandler.keep_alive)
    assert "self._keepalive_handle = loop.call_at(" in source(RequestHandler.connection_made)


def test_answers_in_place_keep_the_idle_timer_as_the_task_would() -> None:
    # Connection.answer_now re-arms aiohttp's idle timer itself after answering in place.
    start = source(RequestHandler.start)
    assert "self._next_keepalive_close_time = close_time" in start
    assert "close_time, self._process_keepalive" in start
    assert "if now < close_time:" in source(RequestHandler._process_keepalive)
    # ...and closes with force_close when an answer could not be serialised.
    assert "self._force_close = True" in source(RequestHandler.force_close)
    assert "self._close = True" in source(RequestHandler.close)
    # Answers held for the end of the loop turn are written first by every close: aiohttp's all
    # go through force_close, and a half-close lets the transport close after eof_received.
    assert "self.force_close()" in source(RequestHandler.connection_lost)
    assert "self.transport.close()" in source(RequestHandler.force_close)
    assert not source(RequestHandler.eof_received).rstrip().endswith("return True")


def test_write_flow_control_is_the_protocols_paused_flag() -> None:
    # The send deadline is armed in pause_writing; answers in place check _paused; drain waits on it.
    base = aiohttp.base_protocol.BaseProtocol
    assert "self._paused = True" in source(base.pause_writing)
    assert "self._paused = False" in source(base.resume_writing)
    assert "if not self._paused:" in source(base._drain_helper)


def test_the_low_level_server_makes_our_protocol() -> None:
    assert "RequestHandler(self, loop=self._loop, **self._kwargs)" in source(web.Server.__call__)
    assert "request_factory" in inspect.signature(web.Server.__init__).parameters


@pytest.fixture
async def engine_port() -> AsyncIterator[int]:
    """The aio engine in this process, with tiny deadlines, on a free loopback port."""
    app = build_app(build_routes(), "X-Powered-By", "webduo/test (async)")
    timeouts = Timeouts(head=0.3, keepalive=5, body=0.3, send=1, graceful=1)
    engine = Engine(app, Runtime(), ParserLimits(), timeouts)
    runner = web.ServerRunner(Server(engine, keepalive_timeout=5, access_log=None))
    await runner.setup()
    listener = socket.create_server(("127.0.0.1", 0))
    await web.SockSite(runner, listener).start()
    try:
        yield listener.getsockname()[1]
    finally:
        await runner.cleanup()
        listener.close()


async def ask(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    return answer


async def test_one_connection_serves_pipelined_requests_then_a_refusal(engine_port: int) -> None:
    hello = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    answer = await ask(engine_port, hello * 3 + b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert answer.count(b"Hello, World!") == 3
    assert b"HTTP/1.1 505 HTTP Version Not Supported\r\n" in answer
    assert answer.count(b"X-Powered-By: webduo/test (async)\r\n") == 4
    assert answer.count(b"Connection: close\r\n") == 1  # and ask() returned: the server closed after it


async def test_a_waiting_endpoint_between_answers_in_place_keeps_the_order(engine_port: int) -> None:
    hello = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    wait = b"GET /io_task?delay_ms=100 HTTP/1.1\r\nHost: t\r\n\r\n"
    close = b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answer = await ask(engine_port, hello + wait + hello + close)
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in answer.split(b"HTTP/1.1 ")[1:]]
    assert [body[:14] for body in bodies] == [b"Hello, World!", b'{"requested_ms', b"Hello, World!", b"Hello, World!"]


async def test_a_half_sent_head_is_a_408_from_our_deadline(engine_port: int) -> None:
    answer = await ask(engine_port, b"GET /hello HTTP/1.1\r\nHost: t\r\n")
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"The request head was not received within 0.3 s." in answer


class RecordingTransport(asyncio.Transport):
    """Keeps every write, so a test can see when and how the answers left."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 50000) if name == "peername" else default


async def test_answers_made_in_place_leave_together_when_the_loop_turn_ends() -> None:
    app = build_app(build_routes(), "X-Powered-By", "webduo/test (async)")
    engine = Engine(app, Runtime(), ParserLimits(), Timeouts(head=1, keepalive=5, body=1, send=1, graceful=1))
    transports = [RecordingTransport(), RecordingTransport()]
    connections = [Server(engine, keepalive_timeout=5, access_log=None)() for _ in transports]
    for connection, transport in zip(connections, transports, strict=True):
        connection.connection_made(transport)
    connections[0].data_received(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
    connections[1].data_received(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
    assert [transport.writes for transport in transports] == [[], []]  # answered, not yet written
    await asyncio.sleep(0)
    first, second = (transport.writes for transport in transports)
    assert len(first) == 1  # three answers, one write
    assert first[0].count(b"Hello, World!") == 3
    assert len(second) == 1
    assert second[0].startswith(b"HTTP/1.1 404 Not Found\r\n")
    for connection in connections:
        connection.connection_lost(None)


def test_connection_is_a_request_handler() -> None:
    # The subclassing itself is the seam: a renamed base would break far from here.
    assert issubclass(Connection, RequestHandler)
