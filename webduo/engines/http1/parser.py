"""A sans-IO HTTP/1.1 request parser (RFC 9112): bytes in, requests or precise errors out.

It never touches a socket. The connection feeds it whatever ``recv`` returned and asks for the
next event::

    parser.feed(data)
    event = parser.next_event()   # NEED_DATA | RequestHead | Message, or raises ProtocolError

A :class:`RequestHead` is announced only when the head is complete but its body is not yet in
the buffer, so the connection can answer ``Expect: 100-continue`` and start the body deadline.
A :class:`Message` is one complete request; bytes after it stay buffered for the next one
(pipelining). After a :class:`ProtocolError` the parser is spent: answer it, then close.

Decisions where RFC 9112 leaves a choice (each is tested in tests/engines/sync/test_parser.py):

- Lines end in CRLF only. A bare LF or bare CR anywhere in the head or a chunk line is a 400:
  §2.2 lets a recipient accept a bare LF, but a server that reads framing differently from a
  proxy in front of it is how request smuggling starts, so we accept one spelling.
- Empty lines before the request line are skipped (§2.2 SHOULD).
- Header values may carry HTAB, SP, visible ASCII and obs-text; every other control character
  (NUL, CR, LF included) is a 400 — stricter than §5.5's "MAY retain", for the same reason.
- obs-fold (a line starting with whitespace) is a 400 (§5.2 allows rejecting it).
- Identical duplicate ``Content-Length`` values are accepted as one (§6.3 item 5); differing
  ones, a sign, or anything but digits are a 400.
- Absolute-form targets are accepted (§3.2.2 MUST) and their path is used; authority-form is
  a 400, and CONNECT, whatever its target, a 501: we are not a proxy, there is nothing to tunnel.
- Methods are checked by the App, not here: one it does not recognise (``FOO``, ``get``: they
  are case-sensitive) is a 501, a known one not routed on the path a 405 (RFC 9110 §9.1).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final, NamedTuple
from urllib.parse import unquote

from webduo.core.errors import body_too_large, unsupported_expectation
from webduo.core.http import EMPTY_HEADERS, Headers, HTTPError, Request
from webduo.settings import Settings


class ProtocolError(HTTPError):
    """A request the parser refuses. It is answered with the shared envelope; then the connection closes."""


class NeedData(enum.Enum):
    """The buffer holds no complete event yet: feed more bytes."""

    NEED_DATA = "need data"


NEED_DATA: Final = NeedData.NEED_DATA

_TOKEN: Final = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE: Final = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/(\d\.\d)")
_ANY_VERSION: Final = re.compile(rb"HTTP/\d\.\d")
# A field value starts and ends with a visible character (or obs-text), with SP/HTAB allowed
# between (RFC 9110 §5.5). Spelled as one character class repeated then backtracked to the last
# visible character, not as RFC 9110's (SP/HTAB* visible)* group: the same language, but the
# regex engine pays a group iteration per character for the latter, ~3x the instructions.
_FIELD_VALUE: Final = rb"[\x21-\x7e\x80-\xff](?:[\x21-\x7e\x80-\xff \t]*[\x21-\x7e\x80-\xff])?"
# name ":" OWS value OWS (§5.1).
_FIELD_LINE: Final = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(" + _FIELD_VALUE + rb")?[ \t]*")
_TOKEN_ONLY: Final = re.compile(_TOKEN)
# The head is decoded once, as ISO-8859-1 (one character per byte, so nothing is lost or can
# fail), and matched as text: one decode a request instead of two per header field.
_REQUEST_LINE_TEXT: Final = re.compile(_REQUEST_LINE.pattern.decode("latin-1"))
_FIELD_LINE_TEXT: Final = re.compile(_FIELD_LINE.pattern.decode("latin-1"))
_LINE_END: Final = r"(?=\r\n|\Z)"
# The fast path reads a well-formed head with two scans instead of a regex call per line: the
# request line at the start, then every field line, each starting at its CRLF and ending at the
# next one. Field values hold no CR, so when there are as many matches as CRLFs every line of the
# block matched _FIELD_LINE in full; otherwise the per-line path finds the first bad line.
_REQUEST_LINE_AT_START: Final = re.compile(_REQUEST_LINE_TEXT.pattern + _LINE_END)
_FIELD_LINES_TEXT: Final = re.compile(r"\r\n" + _FIELD_LINE_TEXT.pattern + _LINE_END)
# The fields that decide framing, Host and persistence, found in a head already known to be
# well-formed: a name starts right after a CRLF and ends at the colon. The value group is
# _FIELD_LINE's, so the values are the same strings. ASCII-only case folding: names are tokens.
_FRAMING_FIELDS_TEXT: Final = re.compile(
    r"\r\n((?i:host|content-length|transfer-encoding|connection|expect)):[ \t]*("
    + _FIELD_VALUE.decode("latin-1")
    + r")?",
    re.ASCII,
)
_FORBIDDEN_IN_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS: Final = re.compile(r"[0-9]+")
_HEX_SIZE: Final = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;.*)?")
# RFC 3986 host: reg-name, IPv4 or an IP-literal in brackets, then an optional port.
_HOST: Final = re.compile(r"(?:\[[0-9A-Fa-f:.vV]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?")

# RFC 9110 §5.6.1: list elements are separated by optional whitespace, which is SP and HTAB only.
# str.strip() would also take NBSP (\xa0) and NEL (\x85), accepting "Content-Length: 3\xa0" as 3:
# a proxy in front that reads it otherwise disagrees with us on where the body ends (smuggling).
_OWS: Final = " \t"
_CRLF: Final = b"\r\n"
_END_OF_HEAD: Final = b"\r\n\r\n"
# A chunk-size line is a hex number and ignored extensions; 4 KiB is far beyond any honest one.
MAX_CHUNK_LINE: Final = 4096
SUPPORTED_VERSIONS: Final = frozenset({"1.0", "1.1"})


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """The bounds the parser enforces; each has its own status (414, 431, 413)."""

    max_request_line: int = 8 * 1024
    max_header_count: int = 100
    max_header_block: int = 16 * 1024
    max_body_size: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> ParserLimits:
        return cls(
            max_request_line=settings.max_request_line,
            max_header_count=settings.max_header_count,
            max_header_block=settings.max_header_block,
            max_body_size=settings.max_body_size,
        )


class RequestHead(NamedTuple):
    """A parsed request line and header block, with the framing and connection semantics decided."""

    method: str
    target: str
    path: str
    query_string: str
    http_version: str
    headers: Headers
    content_length: int | None
    chunked: bool
    keep_alive: bool
    expect_continue: bool

    def to_request(self, body: bytes, client: str) -> Request:
        # Positional: a NamedTuple built from keywords goes through a dict, ~2x the cost.
        return Request(self.method, self.path, self.query_string, self.headers, body, self.http_version, client)


class Message(NamedTuple):
    """One complete request: its head and its whole (de-chunked) body."""

    head: RequestHead
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.head.keep_alive

    def to_request(self, client: str) -> Request:
        return self.head.to_request(self.body, client)


class _Phase(enum.Enum):
    HEAD = "head"
    FIXED_BODY = "fixed body"
    CHUNK_SIZE = "chunk size"
    CHUNK_DATA = "chunk data"
    CHUNK_DATA_END = "chunk data end"
    TRAILERS = "trailers"
    FAILED = "failed"


class RequestParser:
    """Turns the bytes of one connection into a sequence of requests.

    Not thread-safe; one parser per connection, kept for the life of the connection.
    """

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self.limits = limits or ParserLimits()
        self._buffer = bytearray()
        self._phase = _Phase.HEAD
        self._head: RequestHead | None = None
        self._body = bytearray()
        self._remaining = 0  # bytes still due in the fixed body or the current chunk
        self._trailer_bytes = 0
        self._framing_bytes = 0  # chunk-size lines and CRLFs of the current chunked body
        self._scanned = 0  # head bytes already checked for bare LF / limits while incomplete
        self._request_line: tuple[str, str, str] | None = None  # method, target, version of a failed head
        self._partial_headers: Headers = Headers()
        self._error: ProtocolError | None = None

    # -- feeding -------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed by an event."""
        return len(self._buffer)

    @property
    def in_message(self) -> bool:
        """True once any byte of the next request is buffered: its head deadline is running."""
        return self._phase is not _Phase.HEAD or bool(self._buffer)

    @property
    def reading_body(self) -> bool:
        return self._phase not in (_Phase.HEAD, _Phase.FAILED)

    def next_event(self) -> NeedData | RequestHead | Message:
        if self._error is not None:
            raise self._error
        try:
            if self._phase is _Phase.HEAD:
                return self._next_head()
            return self._next_body_part()
        except ProtocolError as exc:
            self._phase = _Phase.FAILED
            self._error = exc
            raise

    def partial_request(self, client: str) -> Request:
        """The request as far as it was understood, for answering a protocol error through the app.

        Method and path are ``"-"`` when the request line itself was unreadable.
        """
        head = self._head
        if head is not None:
            return head.to_request(b"", client)
        if self._request_line is not None:
            method, target, version = self._request_line
            return Request(method, target, headers=self._partial_headers, http_version=version, client=client)
        return Request("-", "-", client=client)

    # -- the head ------------------------------------------------------------------------------

    def _next_head(self) -> NeedData | RequestHead | Message:
        buffer = self._buffer
        if not buffer:
            return NEED_DATA  # the usual state between keep-alive requests: nothing to scan
        # §2.2: ignore empty lines before the request line (some clients send CRLF after a body).
        while buffer.startswith(_CRLF):
            del buffer[:2]
            self._scanned = 0
        # Resume the search where the last one stopped (minus a partial terminator).
        end = buffer.find(_END_OF_HEAD, max(self._scanned - 3, 0))
        if end < 0:
            self._check_head_prefix(len(buffer))
            self._scanned = len(buffer)
            return NEED_DATA
        limits = self.limits
        if buffer.count(b"\n", 0, end) != buffer.count(b"\r\n", 0, end) or end > min(
            limits.max_request_line, limits.max_header_block
        ):
            self._check_head_prefix(end + 4)  # the rare head that may break a limit or hold a bare LF
        text = buffer[:end].decode("latin-1")
        del buffer[: end + 4]
        self._scanned = 0
        head = self._parse_head(text)
        self._head = head
        self._body = bytearray()
        if head.chunked:
            self._phase = _Phase.CHUNK_SIZE
            self._framing_bytes = 0
        elif head.content_length:
            self._phase = _Phase.FIXED_BODY
            self._remaining = head.content_length
        else:
            return self._finish(b"")
        event = self._next_body_part()
        return head if event is NEED_DATA else event

    def _check_head_prefix(self, length: int) -> None:
        """Refuse what can never become a valid head as soon as it shows, not at the deadline.

        When several problems are present, the one a byte-at-a-time reader would meet first is
        reported, so the answer never depends on how the bytes were split into packets.
        """
        buffer = self._buffer
        limits = self.limits
        found: list[tuple[int, ProtocolError]] = []  # (bytes needed to see it, the error)
        bare_lf = self._first_bare_lf(length)
        if bare_lf >= 0:
            found.append((bare_lf + 1, _bare_line_ending()))
        line_end = buffer.find(_CRLF, 0, min(length, limits.max_request_line + 2))
        if line_end < 0:
            if length > limits.max_request_line + 1:
                too_long = ProtocolError(414, f"The request line exceeds {limits.max_request_line} bytes.")
                found.append((limits.max_request_line + 2, too_long))
        elif length - line_end - 2 > limits.max_header_block:
            too_big = ProtocolError(431, f"The header block exceeds {limits.max_header_block} bytes.")
            found.append((line_end + 3 + limits.max_header_block, too_big))
        if found:
            raise min(found, key=lambda item: item[0])[1]

    def _first_bare_lf(self, length: int) -> int:
        """Where the first LF without its CR is, in ``buffer[:length]``; -1 if none.

        A bare LF would hide the end of the head from the CRLFCRLF search. Bytes scanned by an
        earlier call are known to be clean, so the scan resumes where it stopped.
        """
        buffer = self._buffer
        lf = buffer.find(b"\n", max(self._scanned - 1, 0), length)
        while lf >= 0:
            if lf == 0 or buffer[lf - 1] != 0x0D:
                return lf
            lf = buffer.find(b"\n", lf + 1, length)
        return -1

    def _parse_head(self, text: str) -> RequestHead:
        """``text`` is the head up to, not including, its blank line, decoded as ISO-8859-1."""
        split = self._split_head(text)
        if split is None:
            lines = text.split("\r\n")
            method, target, version = self._parse_request_line(lines[0])
            self._request_line = (method, target, version)
            headers = self._parse_fields(lines[1:])
        else:
            method, target, version, headers = split
            self._request_line = (method, target, version)
        self._partial_headers = headers
        if version not in SUPPORTED_VERSIONS:
            raise ProtocolError(505, f"HTTP/{version} is not supported; use HTTP/1.1 or HTTP/1.0.")
        if method == "CONNECT":
            # RFC 9110 §9.3.6: CONNECT asks for a tunnel; an origin server has none to give.
            raise ProtocolError(501, "CONNECT is not implemented: this server is not a proxy.")
        path, query = self._parse_target(method, target)
        self._request_line = (method, path, version)
        return self._decide(method, target, path, query, version, headers, _FRAMING_FIELDS_TEXT.findall(text))

    def _split_head(self, text: str) -> tuple[str, str, str, Headers] | None:
        """Method, target, version and fields of a well-formed head within the limits, in two scans.

        ``None`` for anything else: the per-line path then raises the error it always raised.
        """
        limits = self.limits
        line = _REQUEST_LINE_AT_START.match(text)
        if line is None or line.end() > limits.max_request_line:
            return None
        fields = _FIELD_LINES_TEXT.findall(text, line.end())
        if len(fields) != text.count("\r\n") or len(fields) > limits.max_header_count:
            return None
        method, target, version = line.groups()
        return method, target, version, Headers(tuple(fields))

    def _parse_request_line(self, line: str) -> tuple[str, str, str]:
        if len(line) > self.limits.max_request_line:
            raise ProtocolError(414, f"The request line exceeds {self.limits.max_request_line} bytes.")
        match = _REQUEST_LINE_TEXT.fullmatch(line)
        if match is None:
            raise ProtocolError(400, _request_line_problem(line.encode("latin-1")))
        method, target, version = match.groups()
        return method, target, version

    def _parse_fields(self, lines: list[str]) -> Headers:
        limits = self.limits
        if len(lines) > limits.max_header_count:
            raise ProtocolError(431, f"More than {limits.max_header_count} header fields.")
        fields: list[tuple[str, str]] = []
        for line in lines:
            match = _FIELD_LINE_TEXT.fullmatch(line)
            if match is None:
                # Keep what came before the bad line: its X-Request-ID is echoed in the 400.
                self._partial_headers = Headers(tuple(fields))
                raise ProtocolError(400, _field_line_problem(line.encode("latin-1")))
            name, value = match.groups()
            fields.append((name, value or ""))
        return Headers(tuple(fields))

    def _parse_target(self, method: str, target: str) -> tuple[str, str]:
        """``(decoded path, raw query)``; the one place a path is percent-decoded."""
        if target == "*":
            if method != "OPTIONS":
                raise ProtocolError(400, "The asterisk-form target is only allowed with OPTIONS.")
            return "*", ""
        if not target.startswith("/"):
            target = _origin_of_absolute_form(target)
        if "#" in target:
            raise ProtocolError(400, "A request target must not contain a fragment (#).")
        raw_path, _, query = target.partition("?")
        if "%" not in raw_path:
            return raw_path, query  # nothing to decode, and the request line holds no NUL
        try:
            path = unquote(raw_path, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise ProtocolError(400, "The path does not percent-decode to UTF-8.") from None
        if "\x00" in path:
            raise ProtocolError(400, "The path must not contain NUL.")
        return path, query

    def _decide(
        self,
        method: str,
        target: str,
        path: str,
        query: str,
        version: str,
        headers: Headers,
        framing: list[tuple[str, str]],
    ) -> RequestHead:
        """Framing (§6.3), Host (§3.2), Expect (RFC 9110 §10.1.1) and persistence (§9.3).

        ``framing`` is the subset of ``headers`` named Host, Content-Length, Transfer-Encoding,
        Connection or Expect, in order: usually one or two fields, not every header a browser sends.
        """
        hosts: list[str] = []
        lengths: list[str] = []
        codings: list[str] = []
        connection: set[str] = set()
        expectations: list[str] = []
        for name, value in framing:
            lowered = name.lower()
            if lowered == "host":
                hosts.append(value)
            elif lowered == "content-length":
                lengths.extend(part.strip(_OWS) for part in value.split(","))
            elif lowered == "transfer-encoding":
                codings.extend(part.strip(_OWS).lower() for part in value.split(","))
            elif lowered == "connection":
                connection.update(part.strip(_OWS).lower() for part in value.split(","))
            elif lowered == "expect":
                expectations.extend(part.strip(_OWS).lower() for part in value.split(","))

        if len(hosts) > 1:
            raise ProtocolError(400, "More than one Host header field.")
        if version == "1.1" and not hosts:
            raise ProtocolError(400, "HTTP/1.1 requests must carry a Host header field.")
        if hosts and not _HOST.fullmatch(hosts[0]):
            raise ProtocolError(400, "The Host header field is not a valid host[:port].")

        content_length = self._content_length(lengths) if lengths else None
        chunked = False
        if codings:
            if content_length is not None:
                # §6.3 item 3: both at once is the classic smuggling vector; refuse rather than guess.
                raise ProtocolError(400, "Content-Length and Transfer-Encoding must not both be sent.")
            if version == "1.0":
                raise ProtocolError(400, "Transfer-Encoding is not allowed in HTTP/1.0 (RFC 9112 §6.1).")
            chunked = self._is_chunked(codings)

        if version == "1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection and "close" not in connection

        refused = unsupported_expectation(",".join(expectations)) if expectations else None
        if refused is not None:
            raise ProtocolError(refused.status, refused.detail)
        # RFC 9110 §10.1.1: a server MUST ignore 100-continue from an HTTP/1.0 client.
        expect_continue = version == "1.1" and "100-continue" in expectations

        return RequestHead(
            method,
            target,
            path,
            query,
            version,
            headers,
            content_length,
            chunked,
            keep_alive,
            expect_continue and (chunked or bool(content_length)),
        )

    def _content_length(self, values: list[str]) -> int:
        first = values[0]
        if any(value != first for value in values):
            raise ProtocolError(400, "Content-Length is given more than once with different values.")
        if not _DIGITS.fullmatch(first):
            raise ProtocolError(400, "Content-Length must be a non-negative decimal integer.")
        # Leading zeros are digits too; compare by value, but never convert an absurd string.
        significant = first.lstrip("0")
        limit = self.limits.max_body_size
        if len(significant) > len(str(limit)) or int(first) > limit:
            raise body_too_large_protocol(limit)
        return int(first)

    @staticmethod
    def _is_chunked(codings: list[str]) -> bool:
        if "" in codings:
            raise ProtocolError(400, "Transfer-Encoding has an empty coding.")
        unknown = [coding for coding in codings if coding != "chunked"]
        if unknown:
            shown = ", ".join(unknown)
            raise ProtocolError(501, f"Transfer coding {shown} is not implemented; only chunked is.")
        if len(codings) > 1:
            raise ProtocolError(400, "chunked must be applied exactly once (RFC 9112 §7.1).")
        return True

    # -- the body ------------------------------------------------------------------------------

    def _next_body_part(self) -> NeedData | Message:
        if self._phase is _Phase.FIXED_BODY:
            return self._fixed_body()
        while True:
            if self._phase is _Phase.CHUNK_SIZE:
                progressed = self._chunk_size()
            elif self._phase is _Phase.CHUNK_DATA:
                progressed = self._chunk_data()
            elif self._phase is _Phase.CHUNK_DATA_END:
                progressed = self._chunk_data_end()
            else:
                return self._trailers()
            if not progressed:
                return NEED_DATA

    def _fixed_body(self) -> NeedData | Message:
        buffer = self._buffer
        if len(buffer) < self._remaining:
            return NEED_DATA
        body = bytes(buffer[: self._remaining])
        del buffer[: self._remaining]
        return self._finish(body)

    def _chunk_size(self) -> bool:
        line = self._take_line(MAX_CHUNK_LINE, "chunk-size line")
        if line is None:
            return False
        match = _HEX_SIZE.fullmatch(line)
        if match is None:
            raise ProtocolError(400, "Malformed chunk-size line; expected hex digits and optional extensions.")
        digits = match.group(1).lstrip(b"0")
        limit = self.limits.max_body_size
        # Framing counts too: a body sent as millions of one-byte chunks costs a parse step per
        # chunk, so the size lines and CRLFs together may not exceed the body limit either.
        self._framing_bytes += len(line) + 4
        if self._framing_bytes > limit:
            raise ProtocolError(413, f"Chunked framing exceeds {limit} bytes; send larger chunks.")
        room = limit - len(self._body)
        # Bound the digits before converting: 'ffffffff...' must not become a huge int first.
        if len(digits) > 16 or int(digits or b"0", 16) > room:
            raise body_too_large_protocol(limit)
        size = int(digits or b"0", 16)
        if size == 0:
            self._phase = _Phase.TRAILERS
            self._trailer_bytes = 0
        else:
            self._remaining = size
            self._phase = _Phase.CHUNK_DATA
        return True

    def _chunk_data(self) -> bool:
        buffer = self._buffer
        if not buffer:
            return False
        take = min(self._remaining, len(buffer))
        self._body += buffer[:take]
        del buffer[:take]
        self._remaining -= take
        if self._remaining == 0:
            self._phase = _Phase.CHUNK_DATA_END
        return True

    def _chunk_data_end(self) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer[:2] != _CRLF:
            raise ProtocolError(400, "Chunk data must be followed by CRLF.")
        del self._buffer[:2]
        self._phase = _Phase.CHUNK_SIZE
        return True

    def _trailers(self) -> NeedData | Message:
        """Read and drop the trailer section (§7.1.2): nothing here may change the request."""
        limits = self.limits
        while True:
            room = limits.max_header_block - self._trailer_bytes
            line = self._take_line(room, "trailer section", status=431)
            if line is None:
                return NEED_DATA
            if not line:
                return self._finish(bytes(self._body))
            self._trailer_bytes += len(line) + 2
            if not _FIELD_LINE.fullmatch(line):
                raise ProtocolError(400, "Malformed trailer field: " + _field_line_problem(line))

    def _take_line(self, limit: int, what: str, status: int = 400) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(_CRLF, 0, limit + 2)
        if end < 0:
            # A bare LF within reach shows before the length does (see _check_head_prefix).
            if buffer.find(b"\n", 0, limit + 2) >= 0:
                raise _bare_line_ending()
            if len(buffer) > limit + 1:
                raise ProtocolError(status, f"The {what} exceeds {limit} bytes.")
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        if b"\r" in line or b"\n" in line:
            raise ProtocolError(400, "Lines must end with CRLF; a bare CR or LF was received.")
        return line

    def _finish(self, body: bytes) -> Message:
        head = self._head
        assert head is not None  # noqa: S101 - only reachable after a head was parsed
        self._phase = _Phase.HEAD
        self._head = None
        self._body = bytearray()
        # What a failed *next* request reports must be its own, never this one's.
        self._request_line = None
        self._partial_headers = EMPTY_HEADERS
        return Message(head, body)


def _bare_line_ending() -> ProtocolError:
    return ProtocolError(400, "Lines must end with CRLF; a bare LF was received.")


def body_too_large_protocol(limit: int) -> ProtocolError:
    """The core's 413 (same detail on both engines), raised as a protocol error."""
    shared = body_too_large(limit)
    return ProtocolError(shared.status, shared.detail, message=shared.message)


def _origin_of_absolute_form(target: str) -> str:
    """``http://host/path?q`` -> ``/path?q`` (§3.2.2); anything else that is not origin-form is refused."""
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ProtocolError(400, "The request target must be origin-form (/path), absolute-form or '*'.")
    slash = rest.find("/")
    question = rest.find("?")
    if slash < 0 or 0 <= question < slash:
        return "/" + (rest[question:] if question >= 0 else "")
    return rest[slash:]


def _request_line_problem(line: bytes) -> str:
    """Why a request line failed to match: the detail a client needs to fix it."""
    if b"\r" in line or b"\n" in line:
        return "Lines must end with CRLF; a bare CR or LF was received."
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        return "The request line must be METHOD SP target SP HTTP-version, separated by single spaces."
    method, _, version = parts
    if not _TOKEN_ONLY.fullmatch(method):
        return "The method is not a token."
    if not _ANY_VERSION.fullmatch(version):
        return "The HTTP version must look like HTTP/1.1."
    return "The request target contains characters that are not allowed (controls, space or non-ASCII)."


def _field_line_problem(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "Obsolete line folding (a field line starting with whitespace) is not accepted."
    name, colon, value = line.partition(b":")
    if not colon:
        return "A header field line has no colon."
    if name != name.rstrip(b" \t"):
        return "Whitespace between a header field name and the colon is not allowed."
    if not _TOKEN_ONLY.fullmatch(name):
        return "A header field name is not a token."
    if b"\r" in value or b"\n" in value:
        return "Lines must end with CRLF; a bare CR or LF was received."
    if _FORBIDDEN_IN_VALUE.search(value):
        return "A header field value contains a control character (NUL, CR, LF, ...)."
    return "A header field line is malformed."
