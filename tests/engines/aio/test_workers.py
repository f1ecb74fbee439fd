"""The async engine's process model: pre-forked event loops, graceful stops, early signals, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import HAS_PROC, children, descendants, kill_all, survivors, wait_for
from tests.rawhttp import Client
from tests.servers import HOST, run_server, wait_for_port
from webduo.bench.processes import free_port


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, workers: str) -> None:
    with run_server("async", tmp_path, args=("--workers", workers)) as running, Client(running.port, 15) as client:
        # Sent from this thread before the stop, with a second to spare for the server to read it
        # even on a loaded machine (a client thread of its own could still be connecting).
        client.send(b"GET /io_task?delay_ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(1.0)
        running.process.send_signal(signal.SIGTERM)
        reply = client.reply()
        assert running.process.wait(15) == 0, running.log_text()
    assert reply.status == 200
    assert json.loads(reply.body)["requested_ms"] == 2500
    assert reply.headers["connection"] == "close"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_signal_as_soon_as_the_port_opens_is_a_clean_stop(tmp_path: Path, workers: str) -> None:
    with run_server("async", tmp_path, args=("--workers", workers), answering=False) as running:
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(15) == 0, running.log_text()
        assert "Traceback" not in running.log_text()


@pytest.mark.skipif(not HAS_PROC, reason="needs Linux /proc")
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_worker_that_stops_answers_the_connections_it_took(tmp_path: Path, loop: str) -> None:
    """A connection accepted in the stopping worker's last turns is answered, not closed unread."""
    env = {"WEBDUO_LOOP": loop}
    with run_server("async", tmp_path, env, args=("--workers", "2")) as running:
        workers = wait_for(lambda: children(running.process.pid), lambda found: len(found) == 2, 20)
        stopping, other = sorted(workers)
        for worker in workers:
            os.kill(worker, signal.SIGSTOP)  # the connections wait in the queue, requests sent
        try:
            clients = [Client(running.port, 10) for _ in range(8)]
            for client in clients:
                client.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.2)
            os.kill(stopping, signal.SIGTERM)  # woken into a stop with the queue full
            os.kill(stopping, signal.SIGCONT)
            time.sleep(0.5)
        finally:
            os.kill(other, signal.SIGCONT)
        try:
            assert [client.reply().body for client in clients] == [b"Hello, World!"] * 8, running.log_text()
        finally:
            for client in clients:
                client.sock.close()


def test_two_workers_share_the_port(tmp_path: Path) -> None:
    with run_server("async", tmp_path, args=("--workers", "2")) as running, httpx.Client() as client:
        statuses = {client.get(f"{running.base_url}/hello").status_code for _ in range(20)}
        assert statuses == {200}
        assert "2 event-loop processes" in running.log_text()


def test_ctrl_c_to_the_process_group_stops_quietly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the CPU pool's processes too; they must leave the stop to the server."""
    port = free_port()
    command = [sys.executable, "-m", "webduo", "serve", "--mode", "async", "--host", HOST, "--port", str(port)]
    log = tmp_path / "log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "KeyboardInterrupt" not in log.read_text()
    assert "Traceback" not in log.read_text()


# Pool processes check for their server twice a second; a few seconds leave room for a loaded box.
POOL_EXIT_SECONDS = 5.0
POOL_SIZE = 2


def pool_of(pid: int) -> set[int]:
    """The CPU pool (and multiprocessing's resource tracker) of the event-loop process ``pid``."""
    return wait_for(lambda: descendants(pid), lambda found: len(found) >= POOL_SIZE, timeout=20)


@pytest.mark.skipif(not HAS_PROC, reason="finds the pool through /proc")
def test_cpu_pool_exits_when_its_server_is_killed(tmp_path: Path) -> None:
    env = {"WEBDUO_CPU_POOL_SIZE": str(POOL_SIZE)}
    with run_server("async", tmp_path, env) as running:
        pool = pool_of(running.process.pid)
        assert len(pool) >= POOL_SIZE, pool
        try:
            running.process.kill()
            running.process.wait()
            assert survivors(pool, POOL_EXIT_SECONDS) == set()
        finally:
            kill_all(pool)


@pytest.mark.skipif(not HAS_PROC, reason="finds the pools through /proc")
def test_a_killed_workers_pool_exits_and_the_rest_serve_on(tmp_path: Path) -> None:
    env = {"WEBDUO_CPU_POOL_SIZE": str(POOL_SIZE)}
    with run_server("async", tmp_path, env, args=("--workers", "2")) as running:
        workers = wait_for(lambda: children(running.process.pid), lambda found: len(found) == 2, timeout=20)
        victim, spared = sorted(workers)
        pool, spared_pool = pool_of(victim), pool_of(spared)
        try:
            os.kill(victim, signal.SIGKILL)
            assert survivors(pool, POOL_EXIT_SECONDS) == set()
            assert survivors(spared_pool, 0) == spared_pool
            with httpx.Client() as client:
                assert client.get(f"{running.base_url}/cpu_task", params={"n": 1000}).status_code == 200
        finally:
            kill_all(pool)
        everything = descendants(running.process.pid) | spared_pool
    assert survivors(everything, POOL_EXIT_SECONDS) == set()
