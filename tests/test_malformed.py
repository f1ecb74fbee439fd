"""Malformed and unusual requests, as raw bytes: one expected answer, and both engines give it.

Each case is sent on a fresh connection to each engine. Both answers must match the expected
status and envelope detail (or body), carry the middleware's headers, close the connection when
the request was refused, and be equal to each other byte for byte but for Date, Server, the
engine's name in X-Powered-By and a generated request id.

Add every new case found here, not in an engine's own tests.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Final

import pytest

from tests.servers import ENGINES, HOST, RunningServer


LIMIT: Final = 64 * 1024  # WEBDUO_MAX_BODY_SIZE in conftest
RID: Final = b"X-Request-ID: wire-1\r\n"
GENERATED_ID: Final = re.compile(r"[0-9a-f]{32}")
NO_VERSION_DETAIL: Final = "The request line must be METHOD SP target SP HTTP-version, separated by single spaces."
NOT_ORIGIN_FORM: Final = "The request target must be origin-form (/path), absolute-form or '*'."
BARE_LF: Final = "Lines must end with CRLF; a bare LF was received."
BAD_NAME: Final = "A header field name is not a token."
CONTROL_IN_VALUE: Final = "A header field value contains a control character (NUL, CR, LF, ...)."
BAD_HOST: Final = "The Host header field is not a valid host[:port]."
BAD_LENGTH: Final = "Content-Length must be a non-negative decimal integer."


def get(target: bytes, *headers: bytes, version: bytes = b"1.1", method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/" + version + b"\r\nHost: t\r\n" + RID + b"".join(headers) + b"\r\n"


def post(*headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: t\r\n" + RID + b"".join(headers) + b"\r\n" + body


TEXT: Final = b"Content-Type: text/plain\r\n"
CHUNKED: Final = b"Transfer-Encoding: chunked\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    status: int
    expect: str | bytes  # the envelope's detail, or the whole body of a success
    closes: bool = True  # a refused request ends its connection; the App's own errors do not
    echoes_id: bool = True  # False when the request was refused before X-Request-ID was read
    allow: str | None = None


CASES: Final = [
    # Methods: RFC 9110 §9.1 (501 unknown, 405 + Allow known but not routed), CONNECT.
    Case("unknown method", get(b"/hello", method=b"FOO"), 501, "The method FOO is not implemented by this server.", False),
    Case("lowercase method", get(b"/hello", method=b"get"), 501, "The method get is not implemented by this server.", False),
    Case("unknown method, unknown path", get(b"/pot", method=b"BREW"), 501, "The method BREW is not implemented by this server.", False),
    Case("DELETE on /hello", get(b"/hello", method=b"DELETE"), 405, "DELETE is not allowed on /hello.", False, allow="GET, HEAD"),
    Case("TRACE on /hello", get(b"/hello", method=b"TRACE"), 405, "TRACE is not allowed on /hello.", False, allow="GET, HEAD"),
    Case("QUERY on /hello", get(b"/hello", method=b"QUERY"), 405, "QUERY is not allowed on /hello.", False, allow="GET, HEAD"),
    Case("PUT on /echo", post(b"Content-Length: 2\r\n", body=b"hi").replace(b"POST", b"PUT", 1), 405, "PUT is not allowed on /echo.", False, allow="POST"),
    Case("method not a token", get(b"/hello", method=b"GE(T"), 400, "The method is not a token.", echoes_id=False),
    Case("CONNECT authority-form", get(b"example.com:443", method=b"CONNECT"), 501, "CONNECT is not implemented: this server is not a proxy."),
    Case("CONNECT origin-form", get(b"/hello", method=b"CONNECT"), 501, "CONNECT is not implemented: this server is not a proxy."),
    # Targets.
    Case("authority-form with GET", get(b"example.com:80"), 400, NOT_ORIGIN_FORM),
    Case("absolute-form", get(b"http://t/hello?x=1"), 200, b"Hello, World!", False),
    Case("absolute-form, other scheme", get(b"ftp://t/hello"), 400, NOT_ORIGIN_FORM),
    Case("asterisk-form with GET", get(b"*"), 400, "The asterisk-form target is only allowed with OPTIONS."),
    Case("OPTIONS *", get(b"*", method=b"OPTIONS"), 404, "No route for *.", False),
    Case("fragment", get(b"/hello#top"), 400, "A request target must not contain a fragment (#)."),
    Case("%00 in the path", get(b"/hel%00lo"), 400, "The path must not contain NUL."),
    Case("path not UTF-8", get(b"/hel%FFlo"), 400, "The path does not percent-decode to UTF-8."),
    Case("raw non-ASCII path", get(b"/h\xc3\xa9llo"), 400, "The request target contains characters that are not allowed (controls, space or non-ASCII).", echoes_id=False),
    # Versions: the status line is HTTP/1.1 for every request (RFC 9110 §2.5).
    Case("HTTP/2.0", get(b"/hello", version=b"2.0"), 505, "HTTP/2.0 is not supported; use HTTP/1.1 or HTTP/1.0."),
    Case("HTTP/1.2", get(b"/hello", version=b"1.2"), 505, "HTTP/1.2 is not supported; use HTTP/1.1 or HTTP/1.0."),
    Case("HTTP/0.9", get(b"/hello", version=b"0.9"), 505, "HTTP/0.9 is not supported; use HTTP/1.1 or HTTP/1.0."),
    Case("version garbage", get(b"/hello", version=b"1.1x"), 400, "The HTTP version must look like HTTP/1.1.", echoes_id=False),
    Case("no version", b"GET /hello\r\nHost: t\r\n" + RID + b"\r\n", 400, NO_VERSION_DETAIL, echoes_id=False),
    Case("double space", b"GET  /hello HTTP/1.1\r\nHost: t\r\n" + RID + b"\r\n", 400, NO_VERSION_DETAIL, echoes_id=False),
    Case("HTTP/1.0 without Host", b"GET /hello HTTP/1.0\r\n" + RID + b"\r\n", 200, b"Hello, World!"),
    Case("HTTP/1.0 keep-alive", b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n" + RID + b"\r\n", 200, b"Hello, World!", False),
    Case("TLS on the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls\r\n\r\n", 400, NO_VERSION_DETAIL, echoes_id=False),
    # Header fields.
    Case("space in a name", get(b"/hello", b"Bad Name: v\r\n"), 400, BAD_NAME),
    Case("space before the colon", get(b"/hello", b"X-A : v\r\n"), 400, "Whitespace between a header field name and the colon is not allowed."),
    Case("name not a token", get(b"/hello", b"X(y): v\r\n"), 400, BAD_NAME),
    Case("no colon", get(b"/hello", b"Nocolon\r\n"), 400, "A header field line has no colon."),
    Case("NUL in a value", get(b"/hello", b"X-A: a\x00b\r\n"), 400, CONTROL_IN_VALUE),
    Case("control in a value", get(b"/hello", b"X-A: a\x01b\r\n"), 400, CONTROL_IN_VALUE),
    Case("obs-fold", get(b"/hello", b"X-A: a\r\n b\r\n"), 400, "Obsolete line folding (a field line starting with whitespace) is not accepted."),
    Case("Latin-1 value", get(b"/hello", b"X-Name: gr\xfc\xdfe\r\n"), 200, b"Hello, World!", False),
    Case("insane request id replaced", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-ID: a b\r\n\r\n", 200, b"Hello, World!", False, echoes_id=False),
    # Line endings: CRLF only (RFC 9112 §2.2 allows a bare LF; one spelling of framing avoids smuggling).
    Case("bare LF", b"GET /hello HTTP/1.1\n" + RID.replace(b"\r\n", b"\n") + b"Host: t\n\n", 400, BARE_LF, echoes_id=False),
    Case("bare LF mid-head", get(b"/hello", b"X-A: a\nX-B: b\r\n"), 400, BARE_LF, echoes_id=False),
    Case("bare CR", get(b"/hello", b"X-A: a\rX-B: b\r\n"), 400, "Lines must end with CRLF; a bare CR or LF was received."),
    Case("empty lines before the request", b"\r\n\r\n" + get(b"/hello"), 200, b"Hello, World!", False),
    # Host (RFC 9112 §3.2).
    Case("missing Host", b"GET /hello HTTP/1.1\r\n" + RID + b"\r\n", 400, "HTTP/1.1 requests must carry a Host header field."),
    Case("two Hosts", get(b"/hello", b"Host: u\r\n"), 400, "More than one Host header field."),
    Case("Host with a space", b"GET /hello HTTP/1.1\r\nHost: exa mple\r\n" + RID + b"\r\n", 400, BAD_HOST),
    Case("Host with a slash", b"GET /hello HTTP/1.1\r\nHost: a/b\r\n" + RID + b"\r\n", 400, BAD_HOST),
    # Size limits: 414, 431, 413, each before the excess is read.
    Case("request line too long", get(b"/" + b"a" * 9000), 414, "The request line exceeds 8192 bytes.", echoes_id=False),
    Case("101 header fields", get(b"/hello", b"X-A: b\r\n" * 101), 431, "More than 100 header fields.", echoes_id=False),
    Case("header block too big", get(b"/hello", b"X-Big: " + b"b" * 17000 + b"\r\n"), 431, "The header block exceeds 16384 bytes.", echoes_id=False),
    Case("body too big", post(TEXT, b"Content-Length: %d\r\n" % (LIMIT + 1)), 413, f"Request body exceeds the limit of {LIMIT} bytes."),
    Case("chunked body too big", post(TEXT, CHUNKED, body=b"%x\r\n" % (LIMIT + 1)), 413, f"Request body exceeds the limit of {LIMIT} bytes."),
    # Framing (RFC 9112 §6).
    Case("Content-Length and Transfer-Encoding", post(b"Content-Length: 3\r\n", CHUNKED, body=b"0\r\n\r\n"), 400, "Content-Length and Transfer-Encoding must not both be sent."),
    Case("two different Content-Lengths", post(b"Content-Length: 1\r\nContent-Length: 2\r\n", body=b"xx"), 400, "Content-Length is given more than once with different values."),
    Case("two equal Content-Lengths", post(TEXT, b"Content-Length: 2\r\nContent-Length: 2\r\n", body=b"hi"), 200, b'"hi"', False),
    Case("Content-Length list", post(TEXT, b"Content-Length: 2, 2\r\n", body=b"hi"), 200, b'"hi"', False),
    Case("negative Content-Length", post(b"Content-Length: -1\r\n"), 400, BAD_LENGTH),
    Case("signed Content-Length", post(b"Content-Length: +2\r\n", body=b"hi"), 400, BAD_LENGTH),
    Case("Transfer-Encoding gzip", post(b"Transfer-Encoding: gzip\r\n"), 501, "Transfer coding gzip is not implemented; only chunked is."),
    # Only SP and HTAB are whitespace around list elements: a proxy may read these framings otherwise.
    Case("Content-Length with a trailing NBSP", post(b"Content-Length: 2\xa0\r\n", body=b"hi"), 400, BAD_LENGTH),
    Case("Content-Length with a leading NEL", post(b"Content-Length: \x852\r\n", body=b"hi"), 400, BAD_LENGTH),
    Case("chunked with a trailing NBSP", post(b"Transfer-Encoding: chunked\xa0\r\n", body=b"0\r\n\r\n"), 501, "Transfer coding chunked\xa0 is not implemented; only chunked is."),
    Case("chunked twice", post(b"Transfer-Encoding: chunked, chunked\r\n"), 400, "chunked must be applied exactly once (RFC 9112 §7.1)."),
    Case("Transfer-Encoding in HTTP/1.0", b"POST /echo HTTP/1.0\r\n" + RID + CHUNKED + b"\r\n0\r\n\r\n", 400, "Transfer-Encoding is not allowed in HTTP/1.0 (RFC 9112 §6.1)."),
    Case("bad chunk size", post(TEXT, CHUNKED, body=b"zz\r\n"), 400, "Malformed chunk-size line; expected hex digits and optional extensions."),
    Case("chunk data without CRLF", post(TEXT, CHUNKED, body=b"2\r\nhiXX0\r\n\r\n"), 400, "Chunk data must be followed by CRLF."),
    Case("trailers dropped", post(TEXT, CHUNKED, body=b"2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n"), 200, b'"hi"', False),
    Case("bad trailer", post(TEXT, CHUNKED, body=b"2\r\nhi\r\n0\r\nBad Trailer\r\n\r\n"), 400, "Malformed trailer field: A header field line has no colon."),
    # Expect (RFC 9110 §10.1.1).
    Case("unsupported Expect", get(b"/hello", b"Expect: fancy\r\n"), 417, "Unsupported expectation 'fancy'; only 100-continue is."),
    Case("unsupported Expect, unknown path", get(b"/nope", b"Expect: fancy\r\n"), 417, "Unsupported expectation 'fancy'; only 100-continue is."),
]  # fmt: skip


@dataclass(frozen=True)
class Answer:
    status_line: bytes
    headers: list[tuple[str, str]]  # in order, names lower-cased
    body: bytes
    closed: bool

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


def exchange(port: int, data: bytes) -> Answer:
    """Send ``data``, read one answer; when it says ``Connection: close``, check that the server closes."""
    with socket.create_connection((HOST, port), timeout=5) as conn:
        conn.sendall(data)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            assert chunk, f"closed without an answer; got {buffer!r}"
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        headers = [
            (name.decode().lower(), value.decode("latin-1").strip())
            for name, _, value in (line.partition(b":") for line in lines)
        ]
        length = int(next((value for key, value in headers if key == "content-length"), "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            assert chunk, "closed in the middle of the body"
            body += chunk
        closed = False
        if ("connection", "close") in headers:
            try:
                closed = body[length:] == b"" and conn.recv(1) == b""
            except ConnectionResetError:
                closed = True
    return Answer(status_line, headers, body[:length], closed)


@pytest.fixture(scope="module")
def answers(servers: dict[str, RunningServer]) -> dict[str, dict[str, Answer]]:
    """Every case against each engine, once; the tests below only read."""
    return {case.name: {engine: exchange(servers[engine].port, case.data) for engine in ENGINES} for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_both_engines_give_the_expected_answer(case: Case, answers: dict[str, dict[str, Answer]]) -> None:
    for engine, answer in answers[case.name].items():
        assert answer.status_line.startswith(b"HTTP/1.1 %d " % case.status), engine
        request_id = answer.header("x-request-id") or ""
        if case.echoes_id:
            assert request_id == "wire-1", engine
        else:
            assert GENERATED_ID.fullmatch(request_id), engine
        assert answer.header("x-powered-by") == f"webduo/0.1.0 ({engine})"
        assert answer.header("allow") == case.allow
        assert (answer.header("connection") == "close") == case.closes, engine
        assert answer.closed == case.closes, engine
        if isinstance(case.expect, bytes):
            assert answer.body == case.expect, engine
        else:
            assert answer.header("content-type") == "application/json"
            error = json.loads(answer.body)["error"]
            assert error == {
                "status": case.status,
                "message": error["message"],
                "detail": case.expect,
                "request_id": request_id,
            }, engine


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_both_engines_answer_byte_for_byte_alike(case: Case, answers: dict[str, dict[str, Answer]]) -> None:
    def normalized(engine: str, answer: Answer) -> tuple[bytes, list[tuple[str, str]], bytes]:
        request_id = answer.header("x-request-id") or ""
        headers = [
            (name, value.replace(f"({engine})", "(<engine>)").replace(request_id, "<id>"))
            for name, value in answer.headers
            if name not in ("date", "server")
        ]
        return answer.status_line, headers, answer.body.replace(request_id.encode(), b"<id>")

    sync, aio = (normalized(engine, answers[case.name][engine]) for engine in ENGINES)
    assert sync == aio


def test_the_table_covers_each_status_the_issue_names() -> None:
    assert {case.status for case in CASES} >= {400, 404, 405, 413, 414, 417, 431, 501, 505}
