"""Engine-agnostic middleware: a hook on the way in and one on the way out.

Both engines call :meth:`Middleware.on_request` before routing and
:meth:`Middleware.on_response` on every response — errors and the engines' own
protocol errors included — so a header added here is on everything a client receives.
"""

from __future__ import annotations

import re
from random import getrandbits
from typing import Final, Protocol

from webduo.core.http import Request, Response


REQUEST_ID_HEADER: Final = "X-Request-ID"
DEFAULT_CUSTOM_HEADER: Final = "X-Powered-By"
# A client's id is echoed only when it is short and plain: it ends up in logs and headers.
REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9._:\-]{1,128}"
_SANE_REQUEST_ID: Final = re.compile(REQUEST_ID_PATTERN)


class Middleware(Protocol):
    def on_request(self, request: Request) -> Request: ...

    def on_response(self, request: Request, response: Response) -> Response: ...


class RequestIdMiddleware:
    """Gives every request an id (the client's, when sane) and echoes it in ``X-Request-ID``."""

    def on_request(self, request: Request) -> Request:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
            return request.with_request_id(incoming)
        # 128 random bits as 32 hex digits. An id must be unique, not unguessable: the Mersenne
        # Twister (seeded from the OS, and reseeded in every forked worker by the random module)
        # is half the cost of os.urandom's system call on every request.
        return request.with_request_id(f"{getrandbits(128):032x}")

    def on_response(self, request: Request, response: Response) -> Response:
        return response.with_header(REQUEST_ID_HEADER, request.request_id)


class CustomHeaderMiddleware:
    """Adds one fixed header (``X-Powered-By: webduo/<version> (<engine>)`` by default)."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def on_request(self, request: Request) -> Request:
        return request

    def on_response(self, request: Request, response: Response) -> Response:
        return response.with_header(self.name, self.value)
