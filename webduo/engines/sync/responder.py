"""From a parsed request to the bytes of its response, by blocking code, through the shared App."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from webduo.core.app import App
from webduo.core.effects import Runtime, run_sync
from webduo.core.errors import LAST_RESORT_BODY
from webduo.core.http import Request, Response
from webduo.engines.sync.parser import Message, ProtocolError
from webduo.engines.sync.writer import serialize_response


logger = logging.getLogger("webduo.sync")

# The answer when even the error path failed: static bytes, sent before the connection closes.
LAST_RESORT: Final = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(LAST_RESORT_BODY), LAST_RESORT_BODY)
)


class Responder:
    """Runs requests through ``App.begin/dispatch/complete`` and serialises what comes out.

    Nothing a request does escapes as an exception: an endpoint's failure is the App's 500,
    and a failure of the App itself is :data:`LAST_RESORT`.
    """

    def __init__(self, app: App, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    def answer(self, message: Message, client: str, keep_alive: Callable[[], bool]) -> tuple[bytes, bool]:
        """The response to a complete request, and whether the connection stays open after it.

        Blocks for as long as the endpoint does. ``keep_alive`` is asked once the endpoint is
        done, so a shutdown that began meanwhile still gets ``Connection: close`` on the wire.
        """
        request = message.to_request(client)
        try:
            exchange = self.app.begin(request)
            try:
                outcome: Response | Exception = run_sync(self.app.dispatch(exchange.request), self.runtime)
            except Exception as exc:
                outcome = exc
            response = self.app.complete(exchange, outcome)
            keep = message.keep_alive and keep_alive()
            try:
                return self._serialize(request, response, keep), keep
            except ValueError as exc:  # a header value that would split the response
                return self._serialize(request, self.app.complete(exchange, exc), keep), keep
        except Exception:
            logger.exception("the app failed to answer %s %s", request.method, request.path)
            return LAST_RESORT, False

    def refuse(self, request: Request, error: ProtocolError) -> bytes:
        """The response to a request the parser refused (or that timed out); the connection closes after it.

        It goes through the App like any other, so it carries the custom header, the request id
        and the envelope, and it is access-logged.
        """
        try:
            exchange = self.app.begin(request)
            return self._serialize(exchange.request, self.app.complete(exchange, error), keep_alive=False)
        except Exception:
            logger.exception("the app failed to answer a protocol error %s", error.status)
            return LAST_RESORT

    @staticmethod
    def _serialize(request: Request, response: Response, keep_alive: bool) -> bytes:
        return serialize_response(
            response,
            keep_alive=keep_alive,
            head_only=request.method == "HEAD",
            http_10=request.http_version == "1.0",
        )
