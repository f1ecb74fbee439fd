"""From a parsed request to the bytes of its response, by blocking code, through the shared App."""

from __future__ import annotations

from collections.abc import Callable

from webduo.core.app import App
from webduo.core.effects import Runtime
from webduo.engines.http1.exchange import encode, refusal
from webduo.engines.http1.parser import Message, ProtocolError, RequestParser


class Responder:
    """Runs complete requests through :meth:`App.respond`; nothing a request does escapes as an exception."""

    def __init__(self, app: App, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    def answer(self, message: Message, client: str, keep_alive: Callable[[], bool]) -> tuple[bytes, bool]:
        """The response to a complete request, and whether the connection stays open after it.

        Blocks for as long as the endpoint does. ``keep_alive`` is asked once the endpoint is
        done, so a shutdown that began meanwhile still gets ``Connection: close`` on the wire.
        """
        request = message.to_request(client)
        response = self.app.respond(request, self.runtime)
        return encode(self.app, request, response, keep_alive=message.keep_alive and keep_alive())

    def refuse(self, parser: RequestParser, client: str, error: ProtocolError) -> bytes:
        """The response to a request the parser refused (or that timed out); the connection closes after it."""
        return refusal(self.app, parser, client, error)
