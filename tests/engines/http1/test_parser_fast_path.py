"""The parser's cheaper spellings and fast paths give exactly what the plain ones give.

The fast paths exist for speed only (bench/parser_cost.py); each is checked here against the
straightforward form it replaces, on generated input, and every refusal keeps its status and
its detail whichever path met it first.
"""

from __future__ import annotations

import re
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_malformed import BAD_NAME, CONTROL_IN_VALUE, NO_VERSION_DETAIL
from webduo.core.http import Headers
from webduo.engines.http1 import parser


# RFC 9110 §5.5 spelled literally: value = visible *( *(SP / HTAB) visible ).
RFC_FIELD_LINE: Final = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\x21-\x7e\x80-\xff](?:[ \t]*[\x21-\x7e\x80-\xff])*)?[ \t]*"
)
# Bytes that make a field line interesting: separators, whitespace, controls, obs-text.
ALPHABET: Final = b"Ab:; \t\x00\r\n\x7f\x80\xff,"


def some_bytes(alphabet: bytes, max_size: int) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(alphabet), max_size=max_size).map(bytes)


# Mostly near-valid lines (name, colon, value), where the differences hide; sometimes anything.
LINE_BYTES: Final = st.one_of(
    st.tuples(some_bytes(b"Ab-", 4), st.sampled_from([b":", b": ", b" :", b""]), some_bytes(ALPHABET, 12)).map(
        b"".join
    ),
    some_bytes(ALPHABET, 24),
)


@settings(max_examples=600, deadline=None)
@given(LINE_BYTES)
def test_field_line_pattern_is_the_rfc_grammar(line: bytes) -> None:
    literal = RFC_FIELD_LINE.fullmatch(line)
    fast = parser._FIELD_LINE.fullmatch(line)
    assert (literal and literal.groups()) == (fast and fast.groups())


# -- the head in two scans, or line by line --------------------------------------------------------

LIMITS: Final = parser.ParserLimits(max_request_line=40, max_header_count=4, max_header_block=256, max_body_size=100)
REQUEST_LINES: Final = [
    b"GET / HTTP/1.1",
    b"POST /a?b HTTP/1.0",
    b"GET  / HTTP/1.1",
    b"G(T / HTTP/1.1",
    b"GET /" + b"a" * 40,
]


def by_line(text: str) -> tuple[str, str, str, Headers] | tuple[int, str]:
    """What the per-line path makes of a head: its parts, or its refusal."""
    request_parser = parser.RequestParser(LIMITS)
    lines = text.split("\r\n")
    try:
        method, target, version = request_parser._parse_request_line(lines[0])
        return method, target, version, request_parser._parse_fields(lines[1:])
    except parser.ProtocolError as error:
        return error.status, str(error.detail)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(REQUEST_LINES), st.lists(LINE_BYTES, max_size=6))
def test_two_scans_accept_exactly_what_the_line_by_line_path_accepts(request_line: bytes, lines: list[bytes]) -> None:
    text = b"\r\n".join([request_line, *lines]).decode("latin-1")
    fast = parser.RequestParser(LIMITS)._split_head(text)
    slow = by_line(text)
    if fast is None:
        assert len(slow) == 2, slow  # refused: the per-line path names the first problem
    else:
        assert fast == slow


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Host", "hOST", "Hosts", "X-Host", "Content-Length", "content-LENGTH", "Content-Type"]),
            st.sampled_from(["", "a", " a b ", "\t1,2\t", "caf\xe9"]),
        ),
        max_size=6,
    ),
    st.sampled_from(["Transfer-Encoding", "Connection", "Expect", "TE", "Connection-X"]),
)
def test_framing_fields_are_the_headers_with_those_names(fields: list[tuple[str, str]], extra: str) -> None:
    lines = [f"{name}:{value}" for name, value in [*fields, (extra, "x")]]
    text = "\r\n".join(["GET / HTTP/1.1", *lines])
    split = parser.RequestParser()._split_head(text)
    assert split is not None
    headers = split[3]
    wanted = {"host", "content-length", "transfer-encoding", "connection", "expect"}
    expected = [(name, value) for name, value in headers.items if name.lower() in wanted]
    assert parser._FRAMING_FIELDS_TEXT.findall(text) == expected


SPACE_BEFORE_COLON: Final = "Whitespace between a header field name and the colon is not allowed."
OBS_FOLD: Final = "Obsolete line folding (a field line starting with whitespace) is not accepted."
BARE_CR: Final = "Lines must end with CRLF; a bare CR or LF was received."
BAD_TARGET: Final = "The request target contains characters that are not allowed (controls, space or non-ASCII)."
GET: Final = b"GET / HTTP/1.1\r\nHost: h\r\n"
POST: Final = b"POST / HTTP/1.1\r\nHost: h\r\n"
BAD_LINE_CASES: Final = [
    # (head up to its blank line, status, detail): the bad line first, in the middle and last.
    (b"GET / HTTP/1.1\r\nX-A : b\r\nHost: h", 400, SPACE_BEFORE_COLON),
    (GET + b"X-A : b", 400, SPACE_BEFORE_COLON),
    (GET + b"X-B: c\r\n X-Folded: b\r\nX-C: d", 400, OBS_FOLD),
    (GET + b"X-B: c\r\nX-D: e\r\nNo-Colon", 400, "A header field line has no colon."),
    (GET + b"X A: b", 400, BAD_NAME),
    (GET + b": b", 400, BAD_NAME),
    (GET + b"X-A: a\x00b\r\nX-B: c", 400, CONTROL_IN_VALUE),
    (GET + b"X-A: a\x7f", 400, CONTROL_IN_VALUE),
    (GET + b"X-B: c\r\nX-A: a\rb", 400, BARE_CR),
    (GET + b"X-A: b\r", 400, BARE_CR),
    # Two bad lines: the first one is reported.
    (GET + b"X A: b\r\nX-B : c", 400, BAD_NAME),
    # The request line is judged before any field; the field count before any field line.
    (b"GET  / HTTP/1.1\r\nX A: b", 400, NO_VERSION_DETAIL),
    (b"GET / HTTP/1.1 \r\nHost: h", 400, NO_VERSION_DETAIL),
    (b"GET /\xff HTTP/1.1\r\nHost: h", 400, BAD_TARGET),
    (b"GET /" + b"a" * 35 + b" HTTP/1.1\r\nHost: h", 414, "The request line exceeds 40 bytes."),
    (GET + b"A: 1\r\nB: 2\r\nC: 3\r\nX D: 4", 431, "More than 4 header fields."),
    # Well-formed heads the fast path hands on to the same checks as before.
    (b"GET / HTTP/2.0\r\nHost: h", 505, "HTTP/2.0 is not supported; use HTTP/1.1 or HTTP/1.0."),
    (b"CONNECT h:443 HTTP/1.1\r\nHost: h", 501, "CONNECT is not implemented: this server is not a proxy."),
    (b"GET /%00 HTTP/1.1\r\nHost: h", 400, "The path must not contain NUL."),
    (b"GET /%C3 HTTP/1.1\r\nHost: h", 400, "The path does not percent-decode to UTF-8."),
    (b"GET /a#b HTTP/1.1\r\nHost: h", 400, "A request target must not contain a fragment (#)."),
    (b"GET / HTTP/1.1\r\nX-A: b", 400, "HTTP/1.1 requests must carry a Host header field."),
    (b"GET / HTTP/1.1\r\nhost: a\r\nX-A: b\r\nHOST: a", 400, "More than one Host header field."),
    (b"GET / HTTP/1.1\r\nX-Host: a\r\nHost: a b", 400, "The Host header field is not a valid host[:port]."),
    (
        POST + b"content-length: 1\r\nTransfer-Encoding: chunked",
        400,
        "Content-Length and Transfer-Encoding must not both be sent.",
    ),
    (
        POST + b"Content-Length: 1\r\nX-A: b\r\nContent-Length: 2",
        400,
        "Content-Length is given more than once with different values.",
    ),
    (POST + b"Transfer-Encoding: gzip", 501, "Transfer coding gzip is not implemented; only chunked is."),
    (POST + b"Expect: teapot", 417, "Unsupported expectation 'teapot'; only 100-continue is."),
]


@pytest.mark.parametrize(("head", "status", "detail"), BAD_LINE_CASES)
def test_refusals_keep_their_status_and_detail(head: bytes, status: int, detail: str) -> None:
    request_parser = parser.RequestParser(LIMITS)
    request_parser.feed(head + b"\r\n\r\n")
    with pytest.raises(parser.ProtocolError) as caught:
        request_parser.next_event()
    assert (caught.value.status, str(caught.value.detail)) == (status, detail)


def test_a_refused_field_keeps_the_fields_before_it_for_the_answer() -> None:
    request_parser = parser.RequestParser(LIMITS)
    request_parser.feed(b"GET /x HTTP/1.1\r\nX-Request-ID: abc\r\nHost: h\r\nBad Name: v\r\nX-B: c\r\n\r\n")
    with pytest.raises(parser.ProtocolError):
        request_parser.next_event()
    partial = request_parser.partial_request("c")
    assert (partial.method, partial.path) == ("GET", "/x")
    assert partial.headers.items == (("X-Request-ID", "abc"), ("Host", "h"))


def test_the_limits_are_inclusive_on_both_paths() -> None:
    line = "GET /" + "a" * 26 + " HTTP/1.1"  # exactly 40 bytes
    fields = "\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3"  # exactly 4 fields
    head = parser.RequestParser(LIMITS)._parse_head(line + fields)
    assert (head.path, len(head.headers)) == ("/" + "a" * 26, 4)
    # The head's text straight to _parse_head: the prefix checks of a fed head would meet a long
    # request line first, and the limits must hold here on their own.
    with pytest.raises(parser.ProtocolError) as caught:
        parser.RequestParser(LIMITS)._parse_head("GET /" + "a" * 27 + " HTTP/1.1" + fields)
    assert (caught.value.status, str(caught.value.detail)) == (414, "The request line exceeds 40 bytes.")
    with pytest.raises(parser.ProtocolError) as caught:
        parser.RequestParser(LIMITS)._parse_head(line + fields + "\r\nD: 4")
    assert (caught.value.status, str(caught.value.detail)) == (431, "More than 4 header fields.")
