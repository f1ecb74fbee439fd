"""The two engines answer the same request with the same response (Date and Server aside)."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import RunningServer


# Headers that legitimately differ: when and who answered, and how the connection is managed.
VARIABLE = frozenset({"date", "server", "connection", "keep-alive"})

CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("GET", "/hello", {}, b""),
    ("HEAD", "/hello", {}, b""),
    ("GET", "/healthz", {}, b""),
    ("GET", "/openapi.json", {}, b""),
    ("POST", "/echo", {"Content-Type": "application/json"}, b'{"k": [1, "v", null]}'),
    ("POST", "/echo", {"Content-Type": "application/json"}, b"{oops"),
    ("POST", "/echo", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&a=2"),
    ("POST", "/echo", {"Content-Type": "text/plain"}, b"plain"),
    ("POST", "/echo", {"Content-Type": "application/xml"}, b"<a/>"),
    ("POST", "/echo", {"Content-Type": "text/plain"}, b"x" * (64 * 1024 + 1)),
    ("GET", "/echo", {}, b""),
    ("DELETE", "/hello", {}, b""),
    ("GET", "/missing", {}, b""),
    ("GET", "/hello?x=1&y", {}, b""),
    ("GET", "/hello", {"Expect": "fancy"}, b""),
    ("POST", "/echo", {"Content-Type": "text/plain; charset=latin-1"}, "grüße".encode("latin-1")),
]


def normalized(response: httpx.Response, engine: str) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted(
        (name.lower(), value.replace(f"({engine})", "(<engine>)"))
        for name, value in response.headers.multi_items()
        if name.lower() not in VARIABLE
    )
    return response.status_code, headers, response.content


@pytest.mark.parametrize(("method", "target", "headers", "body"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_both_engines_answer_alike(
    servers: dict[str, RunningServer], method: str, target: str, headers: dict[str, str], body: bytes
) -> None:
    answers = {}
    for engine, running in servers.items():
        fixed_id = {"X-Request-ID": "parity-check-1"}
        with httpx.Client(base_url=running.base_url, timeout=10.0) as http:
            response = http.request(method, target, headers={**headers, **fixed_id}, content=body)
        answers[engine] = normalized(response, engine)
    assert answers["sync"] == answers["async"]
