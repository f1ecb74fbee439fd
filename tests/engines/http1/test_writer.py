"""The sans-IO response serialiser, byte for byte."""

from __future__ import annotations

import re

import pytest

from webduo.core.http import Headers, Response
from webduo.engines.http1.writer import SERVER_HEADER, serialize_response, status_line


def split(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


def test_status_line_headers_and_body_in_one_object() -> None:
    data = serialize_response(Response.text("hi"), keep_alive=True)
    status, headers, body = split(data)
    assert status == "HTTP/1.1 200 OK"
    assert headers["Content-Length"] == "2"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Server"] == SERVER_HEADER
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", headers["Date"])
    assert "Connection" not in headers
    assert body == b"hi"


def test_connection_close_and_http_1_0_keep_alive() -> None:
    assert split(serialize_response(Response.text("x"), keep_alive=False))[1]["Connection"] == "close"
    assert split(serialize_response(Response.text("x"), keep_alive=True, http_10=True))[1]["Connection"] == "keep-alive"


def test_head_keeps_the_length_and_drops_the_body() -> None:
    data = serialize_response(Response.text("Hello, World!"), keep_alive=True, head_only=True)
    _, headers, body = split(data)
    assert headers["Content-Length"] == "13"
    assert body == b""
    assert data.endswith(b"\r\n\r\n")


def test_framing_headers_from_the_app_are_replaced() -> None:
    response = Response(200, Headers.of([("content-length", "999"), ("Transfer-Encoding", "chunked")]), b"abc")
    _, headers, body = split(serialize_response(response, keep_alive=True))
    assert headers["Content-Length"] == "3"
    assert "Transfer-Encoding" not in headers
    assert "content-length" not in headers
    assert body == b"abc"


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses(status: int) -> None:
    _, headers, body = split(serialize_response(Response(status, body=b"ignored"), keep_alive=True))
    assert body == b""
    assert ("Content-Length" in headers) is (status == 304)


def test_unknown_status_gets_a_reason() -> None:
    assert serialize_response(Response(599), keep_alive=True).startswith(b"HTTP/1.1 599 Unknown\r\n")


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b"])
def test_header_values_that_would_split_the_response_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        serialize_response(Response(200, Headers.of([("X-A", value)])), keep_alive=True)


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (413, b"HTTP/1.1 413 Content Too Large\r\n"),
        (414, b"HTTP/1.1 414 URI Too Long\r\n"),
        (422, b"HTTP/1.1 422 Unprocessable Content\r\n"),
        (404, b"HTTP/1.1 404 Not Found\r\n"),
        (599, b"HTTP/1.1 599 Unknown\r\n"),
    ],
)
def test_status_lines_use_rfc_9110_phrases_on_every_python(status: int, line: bytes) -> None:
    assert status_line(status) == line
