"""The base routes, their errors and the middleware, against both engines over real sockets."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, raw_exchange, raw_response


REQUEST_ID = re.compile(r"[0-9a-f]{32}")
LIMIT = 64 * 1024  # WEBDUO_MAX_BODY_SIZE in conftest


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"error"}
    error: dict[str, Any] = payload["error"]
    assert set(error) == {"status", "message", "detail", "request_id"}
    assert error["status"] == response.status_code
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def test_hello(client: httpx.Client, server: RunningServer) -> None:
    response = client.get("/hello")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == b"Hello, World!"
    assert response.headers["content-length"] == "13"
    assert response.headers["x-powered-by"] == f"webduo/0.1.0 ({server.engine})"
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


def test_head_has_headers_but_no_body(client: httpx.Client) -> None:
    response = client.head("/hello")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "13"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_sane_request_id_is_echoed_and_insane_one_replaced(client: httpx.Client) -> None:
    assert client.get("/hello", headers={"X-Request-ID": "abc-123.x"}).headers["x-request-id"] == "abc-123.x"
    replaced = client.get("/hello", headers={"X-Request-ID": "no spaces <script>"}).headers["x-request-id"]
    assert REQUEST_ID.fullmatch(replaced)


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, None, True], "b": {"c": "ü"}}, [], "text", 0, -1.5e-3, None, 12345678901234567890],
)
def test_echo_json_comes_back_as_the_same_value(client: httpx.Client, value: Any) -> None:
    response = client.post("/echo", content=json.dumps(value), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == value


def test_echo_form_repeated_keys_become_lists(client: httpx.Client) -> None:
    response = client.post(
        "/echo", content=b"a=1&b=x+y&a=2&c=&d=%C3%BC", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
    assert response.json() == {"a": ["1", "2"], "b": "x y", "c": "", "d": "ü"}


def test_echo_text_is_a_json_string(client: httpx.Client) -> None:
    response = client.post("/echo", content="grüße\n".encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    assert response.json() == "grüße\n"
    latin = client.post(
        "/echo", content="grüße".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"}
    )
    assert latin.json() == "grüße"


def test_echo_malformed_json_names_the_position(client: httpx.Client) -> None:
    response = client.post("/echo", content=b'{"a": [1, 2', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "line 1 column 11" in error_of(response)["detail"]


@pytest.mark.parametrize("body", [b"NaN", b"[1e999]", b"", b"\xff"])
def test_echo_rejects_what_is_not_json(client: httpx.Client, body: bytes) -> None:
    response = client.post("/echo", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["message"] == "Bad Request"


@pytest.mark.parametrize("content_type", ["application/xml", "image/png", None])
def test_echo_unsupported_content_type_is_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/echo", content=b"<a/>", headers=headers)
    assert response.status_code == 415
    assert "not supported" in error_of(response)["detail"]


def test_echo_bad_text_encoding_is_400(client: httpx.Client) -> None:
    response = client.post("/echo", content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400


def test_echo_body_over_the_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/echo", content=b"x" * (LIMIT + 1), headers={"Content-Type": "text/plain"})
    assert response.status_code == 413
    assert error_of(response)["detail"] == f"Request body exceeds the limit of {LIMIT} bytes."
    assert client.get("/hello").status_code == 200


def test_413_is_answered_without_reading_the_body(server: RunningServer) -> None:
    head = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n"
    )
    reply = raw_response(server.port, head, timeout=5.0)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"X-Powered-By: webduo" in reply


def test_get_on_echo_is_405_with_allow(client: httpx.Client) -> None:
    response = client.get("/echo")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_of(response)["detail"] == "GET is not allowed on /echo."


def test_post_on_hello_is_405_with_allow(client: httpx.Client) -> None:
    response = client.post("/hello", content=b"")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_unknown_path_is_404_envelope_with_headers(client: httpx.Client, server: RunningServer) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert error_of(response) == {
        "status": 404,
        "message": "Not Found",
        "detail": "No route for /no/such/thing.",
        "request_id": response.headers["x-request-id"],
    }
    assert response.headers["x-powered-by"].endswith(f"({server.engine})")


def test_percent_encoded_path_is_decoded_once(client: httpx.Client) -> None:
    assert client.get("/hell%6F").status_code == 200
    assert error_of(client.get("/a%2520b"))["detail"] == "No route for /a%20b."


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"\r\n\r\n\r\n",
    ],
)
def test_bad_input_never_kills_the_server(server: RunningServer, garbage: bytes) -> None:
    reply = raw_exchange(server.port, garbage, timeout=1.0)
    assert b"Traceback" not in reply
    if reply:
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", reply), reply[:80]
    with httpx.Client(base_url=server.base_url, timeout=5.0) as fresh:
        assert fresh.get("/hello").status_code == 200
    assert server.process.poll() is None


def test_http_1_0_gets_a_1_x_answer_and_a_close(server: RunningServer) -> None:
    reply = raw_exchange(server.port, b"GET /hello HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.")
    assert b" 200 OK" in head.split(b"\r\n", 1)[0]
    assert body == b"Hello, World!"


def test_keep_alive_serves_several_requests_on_one_connection(client: httpx.Client) -> None:
    for _ in range(5):
        assert client.get("/hello").status_code == 200


def test_undecodable_header_bytes_get_the_envelope(server: RunningServer) -> None:
    """A byte that is not UTF-8 in a header value must not break the error response itself."""
    request = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/\xff\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    )
    head, _, body = raw_response(server.port, request).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 415 ")
    assert b"X-Powered-By: webduo" in head
    assert json.loads(body)["error"]["detail"].startswith("Content type text/\u00ff is not supported")


def test_an_unsupported_expectation_is_417_in_the_envelope(client: httpx.Client) -> None:
    response = client.get("/hello", headers={"Expect": "fancy"})
    assert response.status_code == 417
    assert error_of(response)["detail"] == "Unsupported expectation 'fancy'; only 100-continue is."
    assert "x-powered-by" in response.headers


@pytest.mark.parametrize(
    ("charset", "body", "status"),
    [
        ("undefined", b"x", 400),  # a codec that refuses every input
        ("rot13", b"x", 415),
        ("no-such-charset", b"x", 415),
        ("utf-7", b"+2AA-", 400),  # decodes to a lone surrogate
        ("unicode_escape", b"\\ud800", 400),
    ],
)
def test_echo_refuses_charsets_that_are_not_text(client: httpx.Client, charset: str, body: bytes, status: int) -> None:
    response = client.post("/echo", content=body, headers={"Content-Type": f"text/plain; charset={charset}"})
    assert response.status_code == status
    assert error_of(response)["status"] == status


def test_a_control_character_in_the_path_cannot_forge_a_log_line(client: httpx.Client, server: RunningServer) -> None:
    assert client.get("/forged%0A%5B00:00:00%5D%20INFO%20fake").status_code == 404
    assert "\n[00:00:00] INFO fake" not in server.log_text()
    assert "/forged\\x0a[00:00:00] INFO fake" in server.log_text()


def test_echo_logs_the_type_and_size_but_not_the_content(client: httpx.Client, server: RunningServer) -> None:
    secret = f"card-{uuid.uuid4().hex}"
    body = json.dumps({"number": secret}).encode()
    response = client.post("/echo", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    line = server.log_line(f"echo {response.headers['x-request-id']}:")
    assert " INFO " in line
    assert line.endswith(f"'application/json', {len(body)} bytes")
    assert secret not in server.log_text()
