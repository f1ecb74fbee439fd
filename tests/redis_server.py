"""A real ``redis-server`` for tests: a private instance on a free loopback port, stopped whatever happens."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
import redis

from tests.servers import HOST, stop
from webduo.bench.processes import free_port


REDIS_SERVER: Final = shutil.which("redis-server")
MISSING: Final = "redis-server is not installed (apt-get install redis-server; .ci/run installs it)"


@dataclass(frozen=True)
class RunningRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client for looking at what the servers stored."""
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)

    def stop(self) -> None:
        stop(self.process)


def answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def run_redis(log_dir: Path) -> Iterator[RunningRedis]:
    """A fresh, empty Redis that keeps nothing on disk; skips the test when there is no redis-server."""
    if REDIS_SERVER is None:
        pytest.skip(MISSING)
    port = free_port()
    command = [REDIS_SERVER, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    with (log_dir / f"redis-{port}.log").open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=log_dir)
    try:
        deadline = time.monotonic() + 10
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port} (exit {process.poll()})")
            time.sleep(0.02)
        yield RunningRedis(port, process)
    finally:
        stop(process)
