"""Requests through the App to bytes: nothing an endpoint or the App does escapes as an exception."""

from __future__ import annotations

import json

from webduo.core.app import App, Exchange, build_app
from webduo.core.effects import Runtime
from webduo.core.http import Headers, Request, Response
from webduo.core.routing import Route, RouteTable
from webduo.engines.sync.parser import Message, ProtocolError, RequestParser
from webduo.engines.sync.responder import LAST_RESORT, Responder


def header_splitting(request: Request) -> Response:
    return Response(200, Headers.of([("X-Evil", "a\r\nSet-Cookie: x=1")]), b"nope")


def message(data: bytes) -> Message:
    parser = RequestParser()
    parser.feed(data)
    event = parser.next_event()
    assert isinstance(event, Message)
    return event


def responder(app: App | None = None) -> Responder:
    routes = RouteTable([Route("GET", "/evil", header_splitting, "evil")])
    return Responder(app or build_app(routes, "X-Powered-By", "test"), Runtime())


def test_a_response_that_would_split_becomes_a_500_envelope() -> None:
    data, keep_alive = responder().answer(message(b"GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"), "c", lambda: True)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"Set-Cookie" not in head
    assert json.loads(body)["error"]["status"] == 500
    assert keep_alive


def test_keep_alive_is_asked_after_the_endpoint_ran() -> None:
    data, keep_alive = responder().answer(message(b"GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"), "c", lambda: False)
    assert not keep_alive
    assert b"\r\nConnection: close\r\n" in data


def test_a_failing_app_still_answers_with_the_last_resort() -> None:
    class BrokenApp(App):
        def begin(self, request: Request) -> Exchange:
            raise RuntimeError("middleware bug")

    broken = responder(BrokenApp(RouteTable(), []))
    assert broken.answer(message(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), "c", lambda: True) == (LAST_RESORT, False)
    assert broken.refuse(Request("-", "-"), ProtocolError(400, "x")) == LAST_RESORT


def test_last_resort_is_a_well_formed_response() -> None:
    head, _, body = LAST_RESORT.partition(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % len(body) in head + b"\r\n"
    assert json.loads(body)["error"]["status"] == 500


def test_refusals_go_through_the_middleware_and_close() -> None:
    data = responder().refuse(Request("GET", "/x", headers=Headers.of([("X-Request-ID", "r-1")])), ProtocolError(431))
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"\r\nX-Powered-By: test\r\n" in data
    assert b"\r\nX-Request-ID: r-1\r\n" in data
    assert b"\r\nConnection: close\r\n" in data
