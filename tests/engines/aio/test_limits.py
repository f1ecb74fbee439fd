"""Settings the async engine hands to aiohttp, and Ctrl-C as a terminal sends it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import HOST, free_port, raw_exchange, run_server, wait_for_port


def test_idle_keep_alive_connection_is_closed_after_the_timeout(tmp_path: Path) -> None:
    with (
        run_server("async", tmp_path, {"WEBDUO_KEEPALIVE_TIMEOUT": "1"}) as running,
        socket.create_connection((HOST, running.port), timeout=10) as conn,
    ):
        conn.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        idle_from = time.monotonic()
        assert conn.recv(1) == b""  # the server closed the idle connection
        assert time.monotonic() - idle_from < 5  # aiohttp's own default would be 75 s


def test_request_line_limit_applies(tmp_path: Path) -> None:
    with run_server("async", tmp_path, {"WEBDUO_MAX_REQUEST_LINE": "100"}) as running:
        long_line = b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
        assert raw_exchange(running.port, long_line, timeout=2).startswith(b"HTTP/1.0 400")
        assert raw_exchange(running.port, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").startswith(
            b"HTTP/1.1 200"
        )


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
