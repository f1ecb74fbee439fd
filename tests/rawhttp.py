"""A raw HTTP/1.1 client for tests that need byte-exact requests and responses on one connection."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

from tests.servers import HOST


# Small timeouts keep the timeout tests fast; the body limit is the parser's 413 boundary.
TIMEOUTS: Final = {
    "WEBDUO_HEAD_TIMEOUT": "1",
    "WEBDUO_KEEPALIVE_TIMEOUT": "1",
    "WEBDUO_BODY_TIMEOUT": "1",
    "WEBDUO_MAX_BODY_SIZE": "1000",
    "WEBDUO_LOG_LEVEL": "INFO",
}
HELLO: Final = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"


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


def hello_works(port: int) -> bool:
    with Client(port) as client:
        client.send(HELLO)
        return client.reply().body == b"Hello, World!"
