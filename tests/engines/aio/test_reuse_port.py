"""``WEBDUO_REUSE_PORT``: every async worker listens on its own SO_REUSEPORT socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import HAS_PROC, children, wait_for
from tests.servers import HOST, run_server, stop
from webduo.bench.processes import free_port


pytestmark = pytest.mark.skipif(not HAS_PROC, reason="needs Linux /proc")

REUSE_PORT = {"WEBDUO_REUSE_PORT": "1"}


def established_by_pid(port: int, pids: set[int]) -> dict[int, int]:
    """How many established connections to ``port`` each of ``pids`` holds, from /proc."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
                if local_port == port and state == "01":  # TCP_ESTABLISHED, on the server's side
                    inodes.add(inode)
    held: dict[int, int] = {}
    for pid in pids:
        links = (os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
        held[pid] = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
    return held


def test_connections_spread_over_the_workers(server_env: dict[str, str], tmp_path: Path) -> None:
    # From one inherited socket, a burst of connections can all go to whichever worker woke first.
    with run_server("async", tmp_path, {**server_env, **REUSE_PORT}, args=("--workers", "2")) as server:
        workers = wait_for(lambda: children(server.process.pid), lambda found: len(found) == 2, 20)
        clients = [socket.create_connection((HOST, server.port)) for _ in range(64)]
        try:
            for client in clients:  # each connection is accepted once its first request arrives
                client.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            for client in clients:
                assert client.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
            held = established_by_pid(server.port, workers)
        finally:
            for client in clients:
                client.close()
    assert sum(held.values()) == 64
    assert min(held.values()) >= 8, held  # a hash split this uneven has odds below 1 in 10^9


def test_a_port_another_webduo_listens_on_is_refused(server_env: dict[str, str], tmp_path: Path) -> None:
    # SO_REUSEPORT would let a second server of the same user share the port without a word.
    env = {**server_env, **REUSE_PORT}
    with run_server("async", tmp_path, env, args=("--workers", "2")) as first:
        command = [sys.executable, "-m", "webduo", "serve", "--mode", "async", "--host", HOST]
        command += ["--port", str(first.port), "--workers", "2"]
        second = subprocess.run(command, capture_output=True, text=True, timeout=30, env={**os.environ, **env})
        assert first.process.poll() is None
    assert second.returncode == 1
    assert f"cannot listen on {HOST}:{first.port}: Address already in use" in second.stdout + second.stderr


def test_a_port_bound_without_listening_is_refused_too(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind((HOST, port))  # bound, not listening, no SO_REUSEPORT: the bind itself fails
        command = [sys.executable, "-m", "webduo", "serve", "--mode", "async", "--host", HOST]
        command += ["--port", str(port), "--workers", "2"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env={**os.environ, **REUSE_PORT})
        try:
            assert process.wait(30) == 1
        finally:
            stop(process)
