"""Connection behaviour on both engines over real sockets: keep-alive, pipelining, bodies, deadlines, abuse.

Both engines run with the same small timeouts and body limit; every test runs against each.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rawhttp import HELLO, TIMEOUTS, Client, hello_works
from tests.servers import ENGINES, HOST, RunningServer, run_server


@pytest.fixture(scope="module", params=ENGINES)
def wire_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One process of each engine (sync: one thread), the strictest setup the abuse tests must survive."""
    with run_server(request.param, tmp_path_factory.mktemp(f"{request.param}-logs"), TIMEOUTS) as running:
        yield running


@pytest.fixture
def engine(wire_server: RunningServer) -> str:
    return wire_server.engine


@pytest.fixture
def port(wire_server: RunningServer) -> int:
    assert wire_server.process.poll() is None, wire_server.log_text()
    return wire_server.port


# -- connection semantics --------------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(port: int) -> None:
    with Client(port) as client:
        for _ in range(5):
            client.send(HELLO)
            reply = client.reply()
            assert reply.status == 200
            assert "connection" not in reply.headers


def test_connection_close_is_honoured(port: int) -> None:
    with Client(port) as client:
        client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert client.reply().headers["connection"] == "close"
        assert client.closed_by_server()


def test_http_1_0_closes_unless_asked_to_keep_alive(port: int) -> None:
    with Client(port) as client:
        client.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert client.reply().headers["connection"] == "keep-alive"
        client.send(b"GET /hello HTTP/1.0\r\n\r\n")
        reply = client.reply()
        assert reply.headers["connection"] == "close"
        assert client.closed_by_server()


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    with Client(port) as client:
        client.send(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
            b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + HELLO
        )
        replies = [client.reply(), client.reply(), client.reply(), client.reply(to_head=True)]
        assert [reply.status for reply in replies] == [200, 200, 404, 200]
        assert replies[1].body == b'"abc"'
        assert replies[3].headers["content-length"] == "13"
        assert replies[3].body == b""  # HEAD: the length of the GET, no body
        assert client.reply().body == b"Hello, World!"


def test_pipelined_answers_keep_their_order_behind_a_waiting_one(port: int) -> None:
    # The async engine answers /hello in the callback that parsed it, and a waiting endpoint in a
    # task: a quick request behind a slow one must still be answered second, not first.
    with Client(port) as client:
        client.send(
            b"GET /io_task?delay_ms=300 HTTP/1.1\r\nHost: t\r\n\r\n"
            + HELLO
            + b"GET /io_task?delay_ms=0 HTTP/1.1\r\nHost: t\r\n\r\n"
            + b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        replies = [client.reply() for _ in range(4)]
        assert [reply.status for reply in replies] == [200, 200, 200, 404]
        assert b'"requested_ms":300' in replies[0].body
        assert replies[1].body == b"Hello, World!"
        assert b'"requested_ms":0' in replies[2].body
        client.send(HELLO)  # and the connection is still good for more
        assert client.reply().body == b"Hello, World!"


def test_chunked_body_is_reassembled(port: int) -> None:
    with Client(port) as client:
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for piece in (b"4;ext=1\r\n[1, \r\n", b"3\r\n2, \r\n", b"2\r\n3]\r\n", b"0\r\nX-Trailer: t\r\n\r\n"):
            client.send(piece)
            time.sleep(0.01)
        reply = client.reply()
        assert (reply.status, reply.body) == (200, b"[1,2,3]")


def test_expect_100_continue_is_answered_before_the_body(port: int) -> None:
    with Client(port) as client:
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = client.reply()
        assert interim.status == 100
        client.send(b"ok")
        final = client.reply()
        assert (final.status, final.body) == (200, b'"ok"')


@pytest.mark.parametrize(
    ("ahead", "answer_ahead"),
    [
        (HELLO, b"Hello, World!"),  # answered in place
        (b"GET /io_task?delay_ms=300 HTTP/1.1\r\nHost: t\r\n\r\n", b'{"requested_ms":300'),  # still being made
    ],
    ids=["answered", "waiting"],
)
def test_100_continue_follows_the_answers_before_it(port: int, ahead: bytes, answer_ahead: bytes) -> None:
    """A pipelined answer and the interim 100 leave in the order their requests came in."""
    with Client(port) as client:
        client.send(
            ahead + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert client.reply().body.startswith(answer_ahead)
        assert client.reply().status == 100
        client.send(b"ok")
        assert client.reply().body == b'"ok"'


def test_body_over_the_limit_is_413_before_the_client_sends_it(port: int) -> None:
    with Client(port) as client:
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n"
            b"Expect: 100-continue\r\nX-Request-ID: big-one\r\n\r\n"
        )
        reply = client.reply()
        assert reply.status == 413
        assert reply.headers["x-request-id"] == "big-one"
        assert reply.headers["connection"] == "close"


def test_413_reaches_a_client_that_sends_the_whole_body_anyway(port: int) -> None:
    """The server answers early and then drains (lingering close), so the answer is not lost to a reset."""
    with Client(port) as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 200000\r\n\r\n")
        for _ in range(20):  # a client that writes its whole body before it reads anything
            client.send(b"x" * 10_000)
            time.sleep(0.005)
        reply = client.reply()
        assert reply.status == 413
        assert client.closed_by_server()


def test_chunked_body_over_the_limit_is_413_while_reading(port: int) -> None:
    with Client(port) as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        client.send(b"200\r\n" + b"x" * 512 + b"\r\n")
        client.send(b"200\r\n" + b"x" * 512 + b"\r\n")
        assert client.reply().status == 413


# -- protocol errors go through the app ----------------------------------------------------------


def test_parser_400_echoes_the_clients_request_id(port: int) -> None:
    with Client(port) as client:
        client.send(b"GET / HTTP/1.1\r\nX-Request-ID: mine-42\r\nBad Name: x\r\n\r\n")
        assert client.reply().headers["x-request-id"] == "mine-42"


# -- timeouts ---------------------------------------------------------------------------------------


def test_idle_keep_alive_connection_is_closed_silently(port: int) -> None:
    with Client(port) as client:
        client.send(HELLO)
        client.reply()
        started = time.monotonic()
        assert client.closed_by_server()
        assert time.monotonic() - started < 4


def test_a_connection_that_never_sends_is_closed_silently(port: int) -> None:
    with Client(port) as client:
        started = time.monotonic()
        assert client.closed_by_server()  # no 408: no request was begun
        assert time.monotonic() - started < 5  # keep-alive timeout 1 s (+ up to 1 s deferred accept)


def test_incomplete_head_gets_408_at_the_head_deadline(port: int, engine: str) -> None:
    with Client(port) as client:
        client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        reply = client.reply()
        assert reply.status == 408
        assert reply.headers["x-powered-by"].endswith(f"({engine})")
        assert client.closed_by_server()


def test_incomplete_body_gets_408_at_the_body_deadline(port: int) -> None:
    with Client(port) as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc")
        assert client.reply().status == 408


# -- abuse ------------------------------------------------------------------------------------------


def test_slow_header_client_is_cut_at_the_head_deadline_while_others_are_served(port: int) -> None:
    outcome: dict[str, float | int] = {}

    def drip() -> None:
        with Client(port) as slow:
            started = time.monotonic()
            for byte in HELLO[:-2]:  # never finishes the head
                if select.select([slow.sock], [], [], 0.25)[0]:
                    break  # the server answered: stop dripping and read it
                slow.send(bytes([byte]))
            outcome["status"] = slow.reply().status
            outcome["after"] = time.monotonic() - started

    dripper = threading.Thread(target=drip)
    dripper.start()
    time.sleep(0.3)
    served = 0
    while dripper.is_alive() and served < 20:
        assert hello_works(port)
        served += 1
        time.sleep(0.02)
    dripper.join(10)
    assert served > 5
    assert outcome["status"] == 408
    assert float(outcome["after"]) < 3  # head deadline 1 s, enforced to within the sweep interval


def test_200_idle_connections_do_not_stop_a_fresh_client(port: int) -> None:
    idle: list[socket.socket] = []
    try:
        for n in range(200):
            sock = socket.create_connection((HOST, port), timeout=5)
            # Half finished a request and now idle on keep-alive, half stuck in the middle of a head.
            sock.sendall(HELLO if n % 2 else b"GET /hello HTTP/1.1\r\n")
            idle.append(sock)
        started = time.monotonic()
        assert hello_works(port)
        assert time.monotonic() - started < 2
    finally:
        for sock in idle:
            sock.close()


def test_client_disconnecting_mid_body_leaves_the_worker_healthy(port: int) -> None:
    for _ in range(3):
        with Client(port) as client:
            client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 900\r\n\r\n")
            client.send(b"x" * 100)
        with Client(port) as client:  # and one that resets instead of closing
            client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 900\r\n\r\nxx")
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert hello_works(port)


def test_client_that_never_reads_its_responses_does_not_block_others(port: int) -> None:
    with Client(port) as hog:
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.send(HELLO * 2000)  # ~70 KB of requests, ~400 KB of answers nobody reads
        time.sleep(0.2)
        started = time.monotonic()
        assert hello_works(port)
        assert time.monotonic() - started < 2


def test_a_client_that_stops_reading_is_dropped_at_the_send_deadline(tmp_path: Path, engine: str) -> None:
    size = 1 << 20
    env = {**TIMEOUTS, "WEBDUO_MAX_BODY_SIZE": str(size), "WEBDUO_SEND_TIMEOUT": "1"}
    request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size
    with run_server(engine, tmp_path, env) as running, socket.socket() as reader:
        assert hello_works(running.port)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect((HOST, running.port))

        def push() -> None:
            with contextlib.suppress(OSError):  # the server gives up on us: that is the point
                for _ in range(8):
                    reader.sendall(request + b"x" * size)

        pusher = threading.Thread(target=push)
        pusher.start()
        time.sleep(2)  # the 1 s send deadline, with room; meanwhile others are served
        assert hello_works(running.port)
        reader.settimeout(5)
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := reader.recv(1 << 20):
                received += len(chunk)
        pusher.join(5)
        assert received < 8 * size  # cut off, not all eight answers


HALF_CLOSED = {
    "one": (HELLO, [200]),
    "three pipelined": (HELLO * 3, [200, 200, 200]),
    "HTTP/1.0": (b"GET /hello HTTP/1.0\r\n\r\n", [200]),
    "Connection: close": (b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", [200]),
    "a waiting endpoint": (b"GET /io_task?delay_ms=200 HTTP/1.1\r\nHost: t\r\n\r\n", [200]),
    "then one that closes": (HELLO + b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", [200, 200]),
    "then garbage": (HELLO + b"\x00garbage\r\n\r\n", [200, 400]),
}


@pytest.mark.parametrize("name", HALF_CLOSED)
def test_a_client_that_half_closes_after_asking_gets_every_answer(port: int, name: str) -> None:
    data, statuses = HALF_CLOSED[name]
    with Client(port) as client:
        client.send(data)
        client.sock.shutdown(socket.SHUT_WR)  # at once: the end of input may come with the requests
        assert [client.reply().status for _ in statuses] == statuses
        assert client.closed_by_server()


def test_an_unread_answer_is_cut_off_at_the_send_deadline_not_kept_by_keep_alive(tmp_path: Path, engine: str) -> None:
    """The keep-alive timeout (1 s) passes while the answer is still being sent: that is not idle."""
    size = 8 << 20  # more than the kernel buffers on both ends of a loopback connection
    env = {**TIMEOUTS, "WEBDUO_MAX_BODY_SIZE": str(size), "WEBDUO_SEND_TIMEOUT": "2"}
    request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size
    with run_server(engine, tmp_path, env) as running, socket.socket() as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect((HOST, running.port))
        reader.sendall(request + b"x" * size)
        time.sleep(3.5)  # past both deadlines, reading nothing
        reader.settimeout(5)
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := reader.recv(1 << 20):
                received += len(chunk)
        assert received < size  # cut off, not sent in full after an idle close


def test_bad_input_never_kills_the_worker(port: int) -> None:
    garbage = [b"\x00" * 100, b"\r\n" * 50 + b"GARBAGE", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n\xff\xfe", os.urandom(3000)]
    for data in garbage:
        with Client(port) as client:
            client.send(data)
            client.sock.shutdown(socket.SHUT_WR)
            try:
                while client.sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
        assert hello_works(port)
