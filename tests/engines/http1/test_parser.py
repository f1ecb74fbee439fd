"""The sans-IO request parser, byte for byte, without sockets."""

from __future__ import annotations

import random
from typing import Final

import pytest

from webduo.core.errors import body_too_large
from webduo.core.http import HTTPError
from webduo.engines.http1.parser import (
    NEED_DATA,
    Message,
    NeedData,
    ParserLimits,
    ProtocolError,
    RequestHead,
    RequestParser,
)


LIMITS = ParserLimits(max_request_line=64, max_header_count=5, max_header_block=256, max_body_size=100)


def parse_all(data: bytes, limits: ParserLimits = LIMITS) -> list[RequestHead | Message]:
    """Every event the parser yields for ``data`` fed at once, up to the first NEED_DATA."""
    parser = RequestParser(limits)
    parser.feed(data)
    events: list[RequestHead | Message] = []
    while True:
        event = parser.next_event()
        if isinstance(event, NeedData):
            return events
        events.append(event)


def parse_one(data: bytes, limits: ParserLimits = LIMITS) -> Message:
    events = [event for event in parse_all(data, limits) if isinstance(event, Message)]
    assert len(events) == 1, events
    return events[0]


def refused(data: bytes, limits: ParserLimits = LIMITS) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_all(data, limits)
    return caught.value


# -- request line -------------------------------------------------------------------------------


def test_simple_get_becomes_a_core_request() -> None:
    message = parse_one(b"GET /hello?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nX-A: b\r\n\r\n")
    request = message.to_request("1.2.3.4:5")
    assert (request.method, request.path, request.query_string) == ("GET", "/hello", "x=1&y=%20")
    assert request.http_version == "1.1"
    assert request.client == "1.2.3.4:5"
    assert request.headers.get("x-a") == "b"
    assert request.body == b""
    assert message.keep_alive


def test_path_is_percent_decoded_once_and_query_kept_raw() -> None:
    request = parse_one(b"GET /a%20b/%2541/%C3%A9?q=%2541 HTTP/1.1\r\nHost: h\r\n\r\n").to_request("")
    assert request.path == "/a b/%41/\u00e9"
    assert request.query_string == "q=%2541"


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"http://example.com/x/y?z=1", "/x/y", "z=1"),
        (b"https://example.com", "/", ""),
        (b"http://example.com?q", "/", "q"),
    ],
)
def test_absolute_form_uses_its_path(target: bytes, path: str, query: str) -> None:
    request = parse_one(b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n").to_request("")
    assert (request.path, request.query_string) == (path, query)


def test_asterisk_form_only_with_options() -> None:
    assert parse_one(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").head.path == "*"
    assert refused(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n").status == 400


@pytest.mark.parametrize(
    "line",
    [
        b"GET /",  # no version
        b"GET  / HTTP/1.1",  # two spaces
        b"GET / HTTP/1.1 ",  # trailing space
        b"G(T / HTTP/1.1",  # method not a token
        b"GET /a b HTTP/1.1",  # space in target
        b"GET / HTTP/1",  # malformed version
        b"GET / http/1.1",  # version is case-sensitive
        b"GET /\x7f HTTP/1.1",  # control in target
        b"GET /\xc3\xa9 HTTP/1.1",  # raw non-ASCII in target
        b"GET example.com:443 HTTP/1.1",  # authority-form
        b"GET ftp://x/ HTTP/1.1",  # absolute-form with another scheme
        b"GET /a#frag HTTP/1.1",  # fragment
        b"GET /%FF HTTP/1.1",  # decodes to invalid UTF-8
        b"GET /%00 HTTP/1.1",  # decodes to NUL
    ],
)
def test_bad_request_lines_are_400(line: bytes) -> None:
    error = refused(line + b"\r\nHost: h\r\n\r\n")
    assert error.status == 400
    assert isinstance(error, HTTPError)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/3.0"])
def test_other_versions_are_505(version: bytes) -> None:
    assert refused(b"GET / " + version + b"\r\nHost: h\r\n\r\n").status == 505


def test_methods_are_any_token_and_case_sensitive() -> None:
    assert parse_one(b"PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n").head.method == "PURGE"
    assert parse_one(b"get /x HTTP/1.1\r\nHost: h\r\n\r\n").head.method == "get"


def test_empty_lines_before_the_request_line_are_skipped() -> None:
    assert parse_one(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").head.path == "/"


def test_request_line_over_the_limit_is_414_even_before_it_ends() -> None:
    assert refused(b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: h\r\n\r\n").status == 414
    assert refused(b"GET /" + b"a" * 80).status == 414


# -- header fields --------------------------------------------------------------------------------


def test_header_lookup_is_case_insensitive_and_keeps_order_and_case() -> None:
    head = parse_one(b"GET / HTTP/1.1\r\nhOsT: h\r\nX-Thing:  v1 \r\nx-thing:\tv2\r\n\r\n").head
    assert head.headers.get("HOST") == "h"
    assert head.headers.get_all("X-THING") == ["v1", "v2"]
    assert head.headers.items[1] == ("X-Thing", "v1")


def test_empty_and_inner_whitespace_values() -> None:
    head = parse_one(b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Inner: a  b\tc\r\n\r\n").head
    assert head.headers.get("x-empty") == ""
    assert head.headers.get("x-inner") == "a  b\tc"


def test_obs_text_values_are_latin1() -> None:
    head = parse_one(b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\n\r\n").head
    assert head.headers.get("x-name") == "caf\u00e9"


@pytest.mark.parametrize(
    ("field", "why"),
    [
        (b"X-A : b", "whitespace before the colon"),
        (b"X-A\t: b", "whitespace before the colon"),
        (b" X-Folded: b", "obs-fold"),
        (b"\tX-Folded: b", "obs-fold"),
        (b"X A: b", "name not a token"),
        (b"X-A", "no colon"),
        (b": b", "empty name"),
        (b"X-A: a\x00b", "NUL in value"),
        (b"X-A: a\rb", "bare CR in value"),
        (b"X-A: a\x01b", "control in value"),
        (b"X-A: a\x7fb", "DEL in value"),
    ],
)
def test_bad_header_fields_are_400(field: bytes, why: str) -> None:
    assert refused(b"GET / HTTP/1.1\r\nHost: h\r\n" + field + b"\r\n\r\n").status == 400, why


def test_obs_fold_continuation_line_is_400() -> None:
    assert refused(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n").status == 400


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: b\n\r\n",
    ],
)
def test_bare_lf_is_rejected_without_waiting_for_more(data: bytes) -> None:
    parser = RequestParser(LIMITS)
    parser.feed(data)
    with pytest.raises(ProtocolError) as caught:
        parser.next_event()
    assert caught.value.status == 400
    assert "CRLF" in str(caught.value.detail)


def test_too_many_header_fields_is_431() -> None:
    fields = b"".join(b"X-%d: v\r\n" % n for n in range(6))
    assert refused(b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n").status == 431


def test_header_block_over_the_limit_is_431_even_before_it_ends() -> None:
    big = b"X-Big: " + b"v" * 300 + b"\r\n"
    assert refused(b"GET / HTTP/1.1\r\nHost: h\r\n" + big + b"\r\n").status == 431
    assert refused(b"GET / HTTP/1.1\r\nHost: h\r\n" + big).status == 431


def test_host_is_required_on_1_1_and_unique() -> None:
    assert refused(b"GET / HTTP/1.1\r\n\r\n").status == 400
    assert refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status == 400
    assert refused(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").status == 400
    assert parse_one(b"GET / HTTP/1.0\r\n\r\n").head.http_version == "1.0"
    assert parse_one(b"GET / HTTP/1.1\r\nHost: [::1]:8001\r\n\r\n").head.headers.get("host") == "[::1]:8001"


# -- bodies ---------------------------------------------------------------------------------------


def post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\n" + body


def test_content_length_body() -> None:
    message = parse_one(post(b"Content-Length: 5\r\n", b"hello"))
    assert message.body == b"hello"


def test_identical_duplicate_content_lengths_are_one() -> None:
    assert parse_one(post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc")).body == b"abc"
    assert parse_one(post(b"Content-Length: 3, 3\r\n", b"abc")).body == b"abc"


@pytest.mark.parametrize(
    "value",
    [
        b"Content-Length: 3\r\nContent-Length: 4\r\n",
        b"Content-Length: 3, 4\r\n",
        b"Content-Length: +3\r\n",
        b"Content-Length: -3\r\n",
        b"Content-Length: 0x3\r\n",
        b"Content-Length: 3 3\r\n",
        b"Content-Length:\r\n",
    ],
)
def test_bad_content_length_is_400(value: bytes) -> None:
    assert refused(post(value, b"abc")).status == 400


def test_body_over_the_limit_is_413_before_any_byte_of_it() -> None:
    error = refused(post(b"Content-Length: 101\r\n"))
    assert (error.status, error.detail) == (413, body_too_large(100).detail)
    assert refused(post(b"Content-Length: " + b"9" * 40 + b"\r\n")).status == 413
    assert parse_one(post(b"Content-Length: 0100\r\n", b"x" * 100)).body == b"x" * 100


def test_chunked_body_with_extensions_and_trailers() -> None:
    body = b"5;name=value\r\nhello\r\n6\r\n world\r\n0;last\r\nX-Trailer: dropped\r\n\r\n"
    message = parse_one(post(b"Transfer-Encoding: chunked\r\n", body))
    assert message.body == b"hello world"
    assert message.head.headers.get("x-trailer") is None


def test_chunk_sizes_are_hex_and_case_insensitive() -> None:
    body = b"A\r\n" + b"x" * 10 + b"\r\nb\r\n" + b"y" * 11 + b"\r\n0\r\n\r\n"
    assert parse_one(post(b"Transfer-Encoding: Chunked\r\n", body)).body == b"x" * 10 + b"y" * 11


@pytest.mark.parametrize(
    "body",
    [
        b"z\r\nhello\r\n0\r\n\r\n",  # not hex
        b"-5\r\nhello\r\n0\r\n\r\n",  # sign
        b"\r\nhello\r\n0\r\n\r\n",  # empty size
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after data
        b"5\nhello\r\n0\r\n\r\n",  # bare LF after size
        b"5\r\nhello\r\n0\r\nX-Bad : t\r\n\r\n",  # malformed trailer
    ],
)
def test_malformed_chunked_bodies_are_400(body: bytes) -> None:
    assert refused(post(b"Transfer-Encoding: chunked\r\n", body)).status == 400


def test_chunked_over_the_limit_is_413_while_reading() -> None:
    parser = RequestParser(LIMITS)
    parser.feed(post(b"Transfer-Encoding: chunked\r\n", b"32\r\n" + b"x" * 50 + b"\r\n"))
    assert isinstance(parser.next_event(), RequestHead)
    parser.feed(b"33\r\n")
    with pytest.raises(ProtocolError) as caught:
        parser.next_event()
    assert caught.value.status == 413
    assert refused(post(b"Transfer-Encoding: chunked\r\n", b"f" * 100 + b"\r\n")).status == 413


def test_chunk_line_and_trailers_are_bounded() -> None:
    assert refused(post(b"Transfer-Encoding: chunked\r\n", b"5;" + b"e" * 5000)).status == 400
    trailers = b"".join(b"X-T%d: %s\r\n" % (n, b"v" * 50) for n in range(6))
    assert refused(post(b"Transfer-Encoding: chunked\r\n", b"0\r\n" + trailers + b"\r\n")).status == 431


def test_chunk_framing_counts_against_the_limit() -> None:
    tiny_chunks = b"1\r\nx\r\n" * 30  # 30 data bytes, 150 framing bytes over a 100-byte limit
    error = refused(post(b"Transfer-Encoding: chunked\r\n", tiny_chunks + b"0\r\n\r\n"))
    assert error.status == 413
    assert "framing" in str(error.detail)
    assert parse_one(post(b"Transfer-Encoding: chunked\r\n", b"1\r\nx\r\n" * 10 + b"0\r\n\r\n")).body == b"x" * 10


@pytest.mark.parametrize("value", [b"", b",", b"chunked,"])
def test_empty_transfer_codings_are_400(value: bytes) -> None:
    assert refused(post(b"Transfer-Encoding: " + value + b"\r\n", b"0\r\n\r\n")).status == 400


def test_content_length_with_transfer_encoding_is_400() -> None:
    error = refused(post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"))
    assert error.status == 400


@pytest.mark.parametrize("coding", [b"gzip", b"gzip, chunked", b"identity", b"chunked, x"])
def test_other_transfer_codings_are_501(coding: bytes) -> None:
    assert refused(post(b"Transfer-Encoding: " + coding + b"\r\n", b"0\r\n\r\n")).status == 501


def test_chunked_twice_is_400() -> None:
    assert refused(post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n")).status == 400
    assert refused(post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n")).status == 400


def test_transfer_encoding_on_http_1_0_is_400() -> None:
    data = b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert refused(data).status == 400


# -- Expect, persistence --------------------------------------------------------------------------


def test_expect_100_continue_is_announced_with_the_head_before_the_body() -> None:
    parser = RequestParser(LIMITS)
    parser.feed(post(b"Content-Length: 5\r\nExpect: 100-Continue\r\n"))
    head = parser.next_event()
    assert isinstance(head, RequestHead)
    assert head.expect_continue
    assert parser.next_event() is NEED_DATA
    parser.feed(b"hello")
    message = parser.next_event()
    assert isinstance(message, Message)
    assert message.body == b"hello"


def test_expect_is_ignored_without_a_body_and_on_1_0() -> None:
    assert not parse_one(post(b"Content-Length: 0\r\nExpect: 100-continue\r\n")).head.expect_continue
    data = b"POST /echo HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n"
    parser = RequestParser(LIMITS)
    parser.feed(data)
    head = parser.next_event()
    assert isinstance(head, RequestHead)
    assert not head.expect_continue


def test_other_expectations_are_417() -> None:
    assert refused(post(b"Content-Length: 1\r\nExpect: teapot\r\n", b"x")).status == 417


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", b"", True),
        (b"1.1", b"Connection: close\r\n", False),
        (b"1.1", b"Connection: Keep-Alive, Close\r\n", False),
        (b"1.1", b"Connection: upgrade\r\n", True),
        (b"1.0", b"", False),
        (b"1.0", b"Connection: keep-alive\r\n", True),
        (b"1.0", b"Connection: KEEP-ALIVE\r\n", True),
    ],
)
def test_keep_alive_semantics(version: bytes, connection: bytes, keep_alive: bool) -> None:
    data = b"GET / HTTP/" + version + b"\r\nHost: h\r\n" + connection + b"\r\n"
    assert parse_one(data).keep_alive is keep_alive


# -- feeding and pipelining ----------------------------------------------------------------------


def test_one_byte_at_a_time() -> None:
    data = post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\nT: x\r\n\r\n") + post(
        b"Content-Length: 2\r\n", b"xy"
    )
    parser = RequestParser(LIMITS)
    messages: list[Message] = []
    for index in range(len(data)):
        parser.feed(data[index : index + 1])
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, Message):
                messages.append(event)
    assert [message.body for message in messages] == [b"abc", b"xy"]
    assert parser.buffered == 0


def test_pipelined_requests_come_out_in_order_and_leftovers_stay_buffered() -> None:
    first = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
    second = post(b"Content-Length: 3\r\n", b"two")
    partial = b"GET /3 HTTP/1.1\r\nHo"
    parser = RequestParser(LIMITS)
    parser.feed(first + second + partial)
    one, two = parser.next_event(), parser.next_event()
    assert isinstance(one, Message)
    assert isinstance(two, Message)
    assert (one.head.path, two.head.path, two.body) == ("/1", "/echo", b"two")
    assert parser.next_event() is NEED_DATA
    assert parser.buffered == len(partial)
    assert parser.in_message
    parser.feed(b"st: h\r\n\r\n")
    three = parser.next_event()
    assert isinstance(three, Message)
    assert three.head.path == "/3"
    assert not parser.in_message


def test_a_failed_parser_stays_failed_and_keeps_what_it_understood() -> None:
    parser = RequestParser(LIMITS)
    parser.feed(post(b"X-Request-ID: abc\r\nContent-Length: 1000\r\n"))
    for _ in range(2):
        with pytest.raises(ProtocolError):
            parser.next_event()
    partial = parser.partial_request("c")
    assert (partial.method, partial.path, partial.client) == ("POST", "/echo", "c")
    assert partial.headers.get("x-request-id") == "abc"


def test_a_failed_request_never_reports_the_previous_one() -> None:
    parser = RequestParser(LIMITS)
    parser.feed(b"GET /first HTTP/1.1\r\nHost: h\r\nX-Request-ID: first\r\n\r\n\x00garbage\r\n\r\n")
    assert isinstance(parser.next_event(), Message)
    with pytest.raises(ProtocolError):
        parser.next_event()
    partial = parser.partial_request("c")
    assert (partial.method, partial.path) == ("-", "-")
    assert partial.headers.get("x-request-id") is None


def test_partial_request_of_an_unreadable_request_line() -> None:
    parser = RequestParser(LIMITS)
    parser.feed(b"\x16\x03\x01 junk\r\n\r\n")
    with pytest.raises(ProtocolError):
        parser.next_event()
    partial = parser.partial_request("c")
    assert (partial.method, partial.path) == ("-", "-")


# -- mutation: any bytes, any split, one outcome ---------------------------------------------------

SEEDS: Final = [
    post(b"Content-Length: 5\r\nX-A: b\r\n", b"hello"),
    post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"),
    b"GET /a%20b?c=d HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
]


def outcome(chunks: list[bytes]) -> tuple[list[tuple[str, bytes, bool]], int | None]:
    """The messages (path, body, keep-alive) and the error status, feeding ``chunks`` one by one."""
    parser = RequestParser(LIMITS)
    messages: list[tuple[str, bytes, bool]] = []
    try:
        for chunk in chunks:
            parser.feed(chunk)
            while (event := parser.next_event()) is not NEED_DATA:
                if isinstance(event, Message):
                    messages.append((event.head.path, event.body, event.keep_alive))
    except ProtocolError as error:
        return messages, error.status
    return messages, None


def test_mutated_requests_fail_only_with_protocol_errors_and_split_points_do_not_matter() -> None:
    rng = random.Random(9112)  # noqa: S311 - reproducible mutations, not secrets
    for _ in range(3000):
        data = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(len(data))
            action = rng.random()
            if action < 0.4:
                data[where] = rng.choice(b"\r\n :\t\x00;,0aZ%/\x7f\xff")
            elif action < 0.7:
                data.insert(where, rng.choice(b"\r\n :\t0"))
            else:
                del data[where]
        whole = outcome([bytes(data)])
        cuts = sorted(rng.sample(range(1, len(data)), k=min(5, len(data) - 1)))
        pieces = [bytes(data[start:end]) for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert outcome(pieces) == whole, bytes(data)
        assert outcome([bytes([byte]) for byte in data]) == whole, bytes(data)
