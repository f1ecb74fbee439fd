"""A sans-IO HTTP/1.1 response serialiser: one :class:`Response` in, one ``bytes`` out.

Status line, header block and body go out as a single object so the server writes them with
one send: ``http.server`` writes the head and the body separately, and the second small
segment waits for the client's delayed ACK (Nagle), adding ~40 ms per response.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Final

from webduo import __version__
from webduo.core.http import Response, reason_phrase


SERVER_HEADER: Final = f"webduo/{__version__}"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
# Framing is ours to decide (RFC 9112 §6): whatever an endpoint put here is replaced.
_FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_STATUS_LINES: dict[int, bytes] = {}


class _DateCache:
    """The ``Date`` value (RFC 9110 §6.6.1), formatted once per second instead of per response."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            # Assigned value first: a reader in another thread then sees a matching or older pair.
            self._value = formatdate(second, usegmt=True)
            self._second = second
        return self._value


_date = _DateCache()


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode("ascii")
    return line


def serialize_response(
    response: Response, *, keep_alive: bool, head_only: bool = False, http_10: bool = False
) -> bytes:
    """The bytes of ``response`` on the wire.

    ``Content-Length`` is always sent (a HEAD answer carries the GET's length but no body);
    ``Connection: close`` when the connection ends after this response, ``keep-alive`` when an
    HTTP/1.0 client asked to keep it. 1xx, 204 and 304 carry no body, and 1xx/204 no length
    (RFC 9110 §8.6).
    """
    status = response.status
    body = response.body
    lines = [f"Date: {_date.now()}\r\nServer: {SERVER_HEADER}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in response.headers.items if name.lower() not in _FRAMING_HEADERS]
    bodiless = status < 200 or status in (204, 304)
    if not (status < 200 or status == 204):
        lines.append(f"Content-Length: {len(body)}\r\n")
    if not keep_alive:
        lines.append("Connection: close\r\n")
    elif http_10:
        lines.append("Connection: keep-alive\r\n")
    block = "".join(lines)
    # One CRLF per field (Date and Server share the first entry): any other CR, LF or NUL came
    # from a header value and would split the response — refuse to send it.
    fields = len(lines) + 1
    if block.count("\n") != fields or block.count("\r") != fields or "\x00" in block:
        raise ValueError("a response header contains CR, LF or NUL")
    head = status_line(status) + block.encode("latin-1") + b"\r\n"
    if head_only or bodiless or not body:
        return head
    return head + body
