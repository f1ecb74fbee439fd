"""The sync engine over real sockets: keep-alive, pipelining, bodies, limits, timeouts, abuse, signals."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from tests.servers import HOST, RunningServer, run_server, stop


# Small timeouts keep the timeout tests fast; the body limit is the parser's 413 boundary.
TIMEOUTS: Final = {
    "WEBDUO_HEAD_TIMEOUT": "1",
    "WEBDUO_KEEPALIVE_TIMEOUT": "1",
    "WEBDUO_BODY_TIMEOUT": "1",
    "WEBDUO_MAX_BODY_SIZE": "1000",
    "WEBDUO_LOG_LEVEL": "INFO",
}
HELLO: Final = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
# Worker processes are found through /proc/<pid>/task/<pid>/children (Linux).
NEEDS_PROC: Final = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """A raw HTTP/1.1 client over one socket that reads responses one at a time (pipelining-safe)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unread: {self.buffer!r}")
        self.buffer += chunk

    def reply(self, *, to_head: bool = False) -> Reply:
        """The next response; ``to_head`` for the answer to a HEAD request (a length, but no body)."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = 0 if to_head else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Reply(int(status_line.split(" ")[1]), headers, body)

    def closed_by_server(self) -> bool:
        """True when the server closed its side (EOF or reset) with nothing else left to read."""
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


@pytest.fixture(scope="module")
def sync_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One worker, one thread: the strictest configuration the abuse tests must survive."""
    with run_server("sync", tmp_path_factory.mktemp("sync-logs"), TIMEOUTS) as running:
        yield running


@pytest.fixture
def port(sync_server: RunningServer) -> int:
    assert sync_server.process.poll() is None, sync_server.log_text()
    return sync_server.port


def hello_works(port: int) -> bool:
    with Client(port) as client:
        client.send(HELLO)
        return client.reply().body == b"Hello, World!"


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


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: t\n\n", 400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n", 400),
    ],
)
def test_protocol_errors_carry_the_envelope_and_middleware_headers(port: int, data: bytes, status: int) -> None:
    with Client(port) as client:
        client.send(data)
        reply = client.reply()
        assert reply.status == status
        assert reply.headers["x-powered-by"].endswith("(sync)")
        assert reply.headers["x-request-id"]
        assert reply.headers["connection"] == "close"
        assert reply.headers["content-type"] == "application/json"
        assert f'"status":{status}'.encode() in reply.body
        assert client.closed_by_server()
    assert hello_works(port)


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


def test_incomplete_head_gets_408_at_the_head_deadline(port: int) -> None:
    with Client(port) as client:
        client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        reply = client.reply()
        assert reply.status == 408
        assert reply.headers["x-powered-by"].endswith("(sync)")
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


def test_a_client_that_stops_reading_is_dropped_at_the_send_deadline(tmp_path: Path) -> None:
    size = 1 << 20
    env = {**TIMEOUTS, "WEBDUO_MAX_BODY_SIZE": str(size), "WEBDUO_SEND_TIMEOUT": "1"}
    request = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size
    with run_server("sync", tmp_path, env) as running, socket.socket() as reader:
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


# -- concurrency and signals (each with its own server) ----------------------------------------------


def io_task(port: int, delay_ms: int) -> Reply:
    with Client(port, timeout=15) as client:
        client.send(b"GET /io_task?delay_ms=%d HTTP/1.1\r\nHost: t\r\n\r\n" % delay_ms)
        return client.reply()


def concurrently(port: int, count: int, delay_ms: int) -> tuple[list[Reply], float]:
    replies: list[Reply] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: replies.append(io_task(port, delay_ms))) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    return replies, time.monotonic() - started


def test_one_thread_handles_strictly_one_request_at_a_time(port: int) -> None:
    replies, elapsed = concurrently(port, 3, 300)
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert elapsed >= 0.9


def test_threads_handle_requests_side_by_side_and_pipelines_in_order(tmp_path: Path) -> None:
    with run_server("sync", tmp_path, TIMEOUTS, args=("--threads", "4")) as running:
        assert hello_works(running.port)  # the port opens before the worker is ready; time from here
        replies, elapsed = concurrently(running.port, 4, 600)
        assert [reply.status for reply in replies] == [200] * 4
        assert elapsed < 2.0  # 4 x 0.6 s one after another would be 2.4 s
        with Client(running.port) as client:
            # The slow one first: a pool must not let the quick ones overtake it on the wire.
            client.send(
                b"GET /io_task?delay_ms=300 HTTP/1.1\r\nHost: t\r\n\r\n"
                + HELLO
                + b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            assert [client.reply().status for _ in range(3)] == [200, 200, 404]


def test_a_full_worker_stops_accepting_until_a_connection_closes(tmp_path: Path) -> None:
    env = {**TIMEOUTS, "WEBDUO_MAX_CONNECTIONS": "3", "WEBDUO_HEAD_TIMEOUT": "5"}
    with run_server("sync", tmp_path, env) as running:
        assert hello_works(running.port)
        # TCP_DEFER_ACCEPT: connections that never send a byte are never accepted, so they
        # cannot fill the worker (else this client would wait out the 5 s head deadline).
        silent = [socket.create_connection((HOST, running.port)) for _ in range(6)]
        with Client(running.port, timeout=2) as client:
            client.send(HELLO)
            assert client.reply().status == 200
        for sock in silent:
            sock.close()

        held = [Client(running.port) for _ in range(3)]
        for client in held:
            client.send(HELLO)
            client.reply()
        with Client(running.port, timeout=0.5) as waiting:
            waiting.send(HELLO)
            with pytest.raises(TimeoutError):
                waiting.reply()  # queued in the kernel's backlog, not refused
            held.pop().sock.close()
            waiting.sock.settimeout(5)
            assert waiting.reply().status == 200
        for client in held:
            client.sock.close()


@NEEDS_PROC
def test_workers_are_respawned_and_keep_serving(tmp_path: Path) -> None:
    with run_server("sync", tmp_path, TIMEOUTS, args=("--workers", "2")) as running:
        workers = wait_for_children(running.process.pid, 2)
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = children_of(running.process.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"no replacement worker: {children_of(running.process.pid)}")
        assert all(hello_works(running.port) for _ in range(10))
        replies, _ = concurrently(running.port, 2, 500)
        assert [reply.status for reply in replies] == [200, 200]


@NEEDS_PROC
def test_workers_stop_when_their_master_is_killed(tmp_path: Path) -> None:
    with run_server("sync", tmp_path, TIMEOUTS, args=("--workers", "2")) as running:
        workers = wait_for_children(running.process.pid, 2)
        running.process.kill()
        running.process.wait(5)
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{pid}").exists() and b"webduo" in _cmdline(pid) for pid in workers):
            assert time.monotonic() < deadline, "orphaned workers kept running"
            time.sleep(0.05)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_the_request_in_flight_finish(tmp_path: Path, workers: str, signum: signal.Signals) -> None:
    with run_server("sync", tmp_path, TIMEOUTS, args=("--workers", workers)) as running:
        if workers == "2" and Path("/proc/self/task").exists():
            wait_for_children(running.process.pid, 2)
        with Client(running.port) as idle:  # an idle keep-alive connection is closed, not waited for
            idle.send(HELLO)
            idle.reply()
            replies: list[Reply] = []
            in_flight = threading.Thread(target=lambda: replies.append(io_task(running.port, 1500)))
            in_flight.start()
            time.sleep(0.4)
            running.process.send_signal(signum)
            assert idle.closed_by_server()
        in_flight.join(10)
        assert [reply.status for reply in replies] == [200]
        assert replies[0].headers["connection"] == "close"
        assert running.process.wait(10) == 0
        assert stop(running.process) == 0


@pytest.mark.parametrize("threads", ["1", "4"])
def test_a_request_outliving_the_grace_period_is_dropped_and_the_exit_is_still_0(tmp_path: Path, threads: str) -> None:
    env = {**TIMEOUTS, "WEBDUO_GRACEFUL_TIMEOUT": "0.5"}
    with run_server("sync", tmp_path, env, args=("--threads", threads)) as running, Client(running.port, 10) as client:
        assert hello_works(running.port)  # serving, so the next request is surely in flight
        client.send(b"GET /io_task?delay_ms=8000 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(5) == 0, running.log_text()
        assert time.monotonic() - started < 3
        assert client.closed_by_server()
        assert "grace period over" in running.log_text()


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def wait_for_children(pid: int, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = children_of(pid)
        if len(children) >= count:
            return children
        time.sleep(0.05)
    pytest.fail(f"expected {count} workers under {pid}, got {children_of(pid)}")


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


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_signal_as_soon_as_the_port_opens_is_a_clean_stop(tmp_path: Path, workers: str) -> None:
    with run_server("sync", tmp_path, TIMEOUTS, args=("--workers", workers), answering=False) as running:
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(10) == 0, running.log_text()
        assert "Traceback" not in running.log_text()


def test_a_taken_port_is_a_one_line_error_and_exit_1() -> None:
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "webduo", "serve", "--mode", "sync", "--host", HOST, "--port", str(port)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "cannot listen on" in result.stderr
    assert "Traceback" not in result.stderr
