"""Requests through the App to bytes: nothing an endpoint or the App does escapes as an exception."""

from __future__ import annotations

import json

import pytest

from webduo.core.app import App, build_app
from webduo.core.effects import Runtime
from webduo.core.http import Headers, Request, Response
from webduo.core.routing import Route, RouteTable
from webduo.engines.http1.parser import Message, ProtocolError, RequestParser
from webduo.engines.sync.responder import Responder


def header_splitting(request: Request) -> Response:
    return Response(200, Headers.of([("X-Evil", "a\r\nSet-Cookie: x=1")]), b"nope")


def bad_header_name(request: Request) -> Response:
    return Response(200, Headers.of([("X Evil", "a")]), b"nope")


def parsed(data: bytes) -> RequestParser:
    parser = RequestParser()
    parser.feed(data)
    return parser


def message(data: bytes) -> Message:
    event = parsed(data).next_event()
    assert isinstance(event, Message)
    return event


def responder(app: App | None = None) -> Responder:
    routes = RouteTable([Route("GET", "/evil", header_splitting, "evil"), Route("GET", "/name", bad_header_name, "n")])
    return Responder(app or build_app(routes, "X-Powered-By", "test"), Runtime())


@pytest.mark.parametrize("path", ["/evil", "/name"])
def test_a_response_that_would_not_serialise_becomes_a_500_envelope(path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: h\r\nX-Request-ID: r-2\r\n\r\n".encode()
    data, keep_alive = responder().answer(message(request), "c", lambda: True)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"Set-Cookie" not in head
    assert b"X Evil" not in head
    assert b"\r\nX-Powered-By: test\r\n" in head
    assert json.loads(body)["error"] == {
        "status": 500,
        "message": "Internal Server Error",
        "detail": None,
        "request_id": "r-2",
    }
    assert keep_alive


def test_keep_alive_is_asked_after_the_endpoint_ran() -> None:
    data, keep_alive = responder().answer(message(b"GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"), "c", lambda: False)
    assert not keep_alive
    assert b"\r\nConnection: close\r\n" in data


class BrokenMiddleware:
    """Fine at start-up (the last resort is built through it), broken on every request."""

    def on_request(self, request: Request) -> Request:
        if request.method == "-":
            return request
        raise RuntimeError("middleware bug")

    def on_response(self, request: Request, response: Response) -> Response:
        return response.with_header("X-Broken", "yes")


def test_a_failing_app_still_answers_with_the_last_resort() -> None:
    broken = responder(App(RouteTable(), [BrokenMiddleware()]))
    data, _ = broken.answer(message(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), "c", lambda: True)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"\r\nX-Broken: yes\r\n" in head  # the middleware's headers, added once at start-up
    assert json.loads(body)["error"]["status"] == 500
    parser = parsed(b"GET / HTTP/9.9\r\n\r\n")
    with pytest.raises(ProtocolError) as unsupported:
        parser.next_event()
    refused = broken.refuse(parser, "c", unsupported.value)
    assert refused.startswith(b"HTTP/1.1 500 ")
    assert b"\r\nConnection: close\r\n" in refused


def test_a_middleware_whose_headers_cannot_be_sent_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="not valid on the wire"):
        build_app(RouteTable(), "X-Powered-By", "split\r\nInjected: 1")


def test_refusals_go_through_the_middleware_and_close() -> None:
    parser = parsed(b"GET /x HTTP/1.1\r\nX-Request-ID: r-1\r\nBad Name: v\r\n\r\n")
    with pytest.raises(ProtocolError) as refused:
        parser.next_event()
    data = responder().refuse(parser, "c", refused.value)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nX-Powered-By: test\r\n" in data
    assert b"\r\nX-Request-ID: r-1\r\n" in data
    assert b"\r\nConnection: close\r\n" in data
