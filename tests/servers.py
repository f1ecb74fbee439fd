"""Start real webduo servers for tests: a subprocess per engine on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webduo.bench.processes import free_port


ENGINES: Final = ("sync", "async")
HOST: Final = "127.0.0.1"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], timeout: float = 20.0, *, answering: bool = True
) -> None:
    """Until ``port`` accepts connections or, with ``answering``, a worker answers ``GET /healthz``.

    Pre-forked servers open the port before their workers run: a test that times or signals
    from the moment the port opens would measure the start-up instead.
    """
    deadline = time.monotonic() + timeout
    probe = b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n" if answering else b""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            if not answering:
                with socket.create_connection((HOST, port), timeout=0.5):
                    return
            elif raw_response(port, probe, timeout=max(0.1, deadline - time.monotonic())).startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"nothing {'answered' if answering else 'listened'} on {HOST}:{port} within {timeout} s")


@dataclass(frozen=True)
class RunningServer:
    engine: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return HOST

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_line(self, needle: str, timeout: float = 5.0) -> str:
        """The first log line holding ``needle``, waiting for it: a line is written after the answer."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in self.log_text().splitlines() if needle in line), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"no log line with {needle!r} within {timeout} s:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)


@contextmanager
def run_server(
    engine: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    *,
    answering: bool = True,
) -> Iterator[RunningServer]:
    """A server of ``engine`` with ``env`` added to the environment; stopped with SIGTERM on exit.

    It is yielded once it answers (``answering``), or as soon as its port opens.
    """
    port = free_port()
    log = log_dir / f"{engine}-{port}.log"
    command = [sys.executable, "-m", "webduo", "serve", "--mode", engine, "--host", HOST, "--port", str(port), *args]
    # Output goes to a file, not a pipe nobody reads: a full pipe would block the server.
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        wait_for_port(port, process, answering=answering)
        yield RunningServer(engine, port, process, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` as-is and read until the server closes (or ``timeout``): for byte-exact tests."""
    chunks: list[bytes] = []
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        conn.sendall(data)
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def raw_response(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` and return the first response: its head and ``Content-Length`` bytes of body."""
    buffer = b""
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        conn.sendall(data)
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return buffer
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
    return head + b"\r\n\r\n" + body
