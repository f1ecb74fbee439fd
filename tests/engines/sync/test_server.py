"""The sync engine's process model over real sockets: threads, accepting, workers and signals.

Wire behaviour both engines share is tested in tests/test_connections.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.rawhttp import HELLO, TIMEOUTS, Client, Reply, hello_works
from tests.servers import HOST, RunningServer, run_server, stop


# Worker processes are found through /proc/<pid>/task/<pid>/children (Linux).
NEEDS_PROC: Final = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def sync_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One worker, one thread: strictly one request at a time."""
    with run_server("sync", tmp_path_factory.mktemp("sync-logs"), TIMEOUTS) as running:
        yield running


@pytest.fixture
def port(sync_server: RunningServer) -> int:
    assert sync_server.process.poll() is None, sync_server.log_text()
    return sync_server.port


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
            with Client(running.port, timeout=15) as in_flight:
                # Sent from this thread before the stop, with time to spare for the server to read
                # it even on a loaded machine (a client thread of its own could still be connecting).
                in_flight.send(b"GET /io_task?delay_ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n")
                time.sleep(1.0)
                running.process.send_signal(signum)
                assert idle.closed_by_server()
                reply = in_flight.reply()
        assert reply.status == 200
        assert reply.headers["connection"] == "close"
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
    assert result.stderr == f"error: cannot listen on {HOST}:{port}: Address already in use\n"
