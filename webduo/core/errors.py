"""The one JSON error envelope every error status is answered with, on both engines."""

from __future__ import annotations

import logging
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from webduo.core.http import HTTPError, Response


logger = logging.getLogger("webduo.error")


class ErrorBody(BaseModel):
    """What went wrong, and the id to quote when asking about it."""

    model_config = ConfigDict(frozen=True)

    # No range on purpose: validating must not fail on the error path itself.
    status: int = Field(description="The HTTP status again.")
    message: str = Field(description="The reason phrase, or a short summary such as 'Invalid weather query'.")
    detail: Any = Field(
        description="A sentence, a list of field errors ({loc, msg, type}), an object, or null: depends on the status."
    )
    request_id: str = Field(description="The response's X-Request-ID: quote it, the server log has the same.")


class ErrorEnvelope(BaseModel):
    """The body of every error status, on both engines."""

    model_config = ConfigDict(frozen=True)

    error: ErrorBody


def envelope(status: int, message: str, detail: Any, request_id: str) -> dict[str, Any]:
    """``{"error": {"status", "message", "detail", "request_id"}}``: the shape clients can rely on."""
    body = ErrorBody(status=status, message=message, detail=detail, request_id=request_id)
    return ErrorEnvelope(error=body).model_dump()


def error_response(error: HTTPError, request_id: str) -> Response:
    """The response for an :class:`HTTPError`, its extra headers (``Allow``, ...) included."""
    payload = envelope(error.status, error.message, error.detail, request_id)
    return Response.json(payload, status=error.status, headers=error.headers)


def response_for_exception(exc: BaseException, request_id: str) -> Response:
    """Any exception as an envelope; unexpected ones become a 500 and are logged with their traceback.

    The client never sees the traceback: it gets the request id to quote instead.
    """
    if isinstance(exc, HTTPError):
        return error_response(exc, request_id)
    logger.error("unhandled error in request %s", request_id, exc_info=exc)
    return error_response(HTTPError(500, "The server failed to handle this request."), request_id)


def unsupported_expectation(expectations: str) -> HTTPError | None:
    """417 for an ``Expect`` other than ``100-continue`` (RFC 9110 §10.1.1), else ``None``."""
    for expectation in (part.strip(" \t").lower() for part in expectations.split(",")):
        if expectation and expectation != "100-continue":
            return HTTPError(417, f"Unsupported expectation {expectation!r}; only 100-continue is.")
    return None


# The answer when even the error path failed (a broken middleware, an unencodable header):
# fixed bytes, so an engine always has something valid to send.
LAST_RESORT_STATUS: Final = 500
LAST_RESORT_BODY: Final = (
    b'{"error":{"status":500,"message":"Internal Server Error","detail":"Response failed.","request_id":""}}'
)


def body_too_large(limit: int) -> HTTPError:
    """413 for a body over ``limit`` bytes; both engines raise it before reading the excess."""
    return HTTPError(413, f"Request body exceeds the limit of {limit} bytes.")
