"""What both engines do between the parser and the writer: a request through the App, as bytes.

The engines differ in how they wait for bytes and for endpoints; what a request, a refusal or a
deadline turns into on the wire is decided here, once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from webduo.core.app import App, printable
from webduo.core.http import Request, Response
from webduo.engines.http1.parser import ProtocolError, RequestParser
from webduo.engines.http1.writer import serialize_response
from webduo.settings import Settings


logger = logging.getLogger("webduo.http1")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a connection may take over each phase; both engines enforce the same ones."""

    head: float
    keepalive: float
    body: float
    send: float
    graceful: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        return cls(
            head=settings.head_timeout,
            keepalive=settings.keepalive_timeout,
            body=settings.body_timeout,
            send=settings.send_timeout,
            graceful=settings.graceful_timeout,
        )


def encode(app: App, request: Request, response: Response, *, keep_alive: bool) -> tuple[bytes, bool]:
    """``response`` to ``request`` as bytes, and whether the connection stays open after it.

    The App only hands out responses that serialise; should one fail all the same, the App's
    fixed 500 goes out instead and the connection closes.
    """
    try:
        return _serialize(request, response, keep_alive), keep_alive
    except ValueError:
        logger.exception("cannot serialise the response to %s %s", request.method, printable(request.path))
        return _serialize(request, app.last_resort, keep_alive=False), False


def refusal(app: App, parser: RequestParser, client: str, error: ProtocolError) -> bytes:
    """The answer to a request ``parser`` refused (or that timed out); the connection closes after it."""
    request = parser.partial_request(client)
    return encode(app, request, app.refuse(request, error), keep_alive=False)[0]


def deadline_error(parser: RequestParser, timeouts: Timeouts) -> ProtocolError:
    """408 for a request whose head or body did not arrive in time (RFC 9110 §15.5.9)."""
    if parser.reading_body:
        return ProtocolError(408, f"The request body was not received within {timeouts.body:g} s.")
    return ProtocolError(408, f"The request head was not received within {timeouts.head:g} s.")


def _serialize(request: Request, response: Response, keep_alive: bool) -> bytes:
    return serialize_response(
        response, keep_alive=keep_alive, head_only=request.method == "HEAD", http_10=request.http_version == "1.0"
    )
