"""The stress endpoints on both engines over real sockets (the validation matrix is in test_tasks_core.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == response.status_code
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def test_io_task_reports_its_wait(client: httpx.Client) -> None:
    payload = client.get("/io_task", params={"delay_ms": 50}).json()
    assert payload["requested_ms"] == 50
    assert 49 <= payload["waited_ms"] < 2000


def test_io_task_waits_100_ms_by_default(client: httpx.Client) -> None:
    assert client.get("/io_task").json()["requested_ms"] == 100


def test_cpu_task_returns_the_prime_count(client: httpx.Client) -> None:
    payload = client.get("/cpu_task", params={"n": 10_000}).json()
    assert payload["n"] == 10_000
    assert payload["primes_below_n"] == 1229
    assert payload["elapsed_ms"] > 0


@pytest.mark.parametrize(
    ("path", "params"),
    [("/io_task", {"delay_ms": "10001"}), ("/io_task", {"delay_ms": "abc"}), ("/cpu_task", {"n": "-5"})],
)
def test_out_of_range_parameters_are_422(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    (field_error,) = error_of(response)["detail"]
    assert field_error["loc"] == [next(iter(params))]
    assert field_error["msg"]
    assert "url" not in field_error


def test_error_task_is_a_500_envelope_with_the_traceback_only_in_the_log(
    client: httpx.Client, server: RunningServer
) -> None:
    response = client.get("/error_task")
    assert response.status_code == 500
    error = error_of(response)
    assert "Traceback" not in response.text
    assert "DeliberateError" not in response.text
    deadline = time.monotonic() + 5
    while error["request_id"] not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log_text()
    assert error["request_id"] in log
    assert "DeliberateError" in log


@pytest.mark.parametrize(("kind", "status"), [("timeout", 504), ("bad_gateway", 502)])
def test_error_task_kinds(client: httpx.Client, kind: str, status: int) -> None:
    response = client.get("/error_task", params={"kind": kind})
    assert response.status_code == status
    assert error_of(response)["message"]


def test_async_cpu_task_does_not_block_hello(servers: dict[str, RunningServer]) -> None:
    """While the pool counts primes for over a second, the loop answers /hello at once."""
    base_url = servers["async"].base_url
    timings: dict[str, float] = {}

    def long_cpu_task() -> None:
        started = time.perf_counter()
        response = httpx.get(f"{base_url}/cpu_task", params={"n": 1_000_000}, timeout=30)
        assert response.json()["primes_below_n"] == 78_498
        timings["cpu"] = time.perf_counter() - started

    worker = threading.Thread(target=long_cpu_task)
    worker.start()
    time.sleep(0.3)  # let the cpu_task reach the pool
    started = time.perf_counter()
    assert httpx.get(f"{base_url}/hello", timeout=30).status_code == 200
    hello = time.perf_counter() - started
    worker.join()
    assert timings["cpu"] > 0.6, "the cpu_task was too short to prove anything"
    assert hello < timings["cpu"] / 4
