"""The stress endpoints through the shared app, driven by both effect runners (no sockets).

The engine-level behaviour (real servers, concurrency) is in test_tasks.py; these pin the
endpoints' contract cheaply: validation, results and the envelope, under run_sync and run_async.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from webduo.core.app import App, build_app
from webduo.core.effects import Runtime
from webduo.core.http import Request, Response
from webduo.core.routes import build_routes
from webduo.engines.aio.services import async_services
from webduo.engines.sync.services import sync_services
from webduo.settings import Settings


@pytest.fixture(scope="module")
def app() -> App:
    return build_app(build_routes(), "X-Powered-By", "webduo/test (core)")


@pytest.fixture
def sync_runtime() -> Iterator[Runtime]:
    with sync_services(Settings(cpu_pool_size=1)) as runtime:
        yield runtime


@pytest.fixture
async def async_runtime() -> AsyncIterator[Runtime]:
    async with async_services(Settings(cpu_pool_size=1)) as runtime:
        yield runtime


def get_sync(app: App, runtime: Runtime, path: str, query: str = "") -> Response:
    return app.respond(Request("GET", path, query), runtime)


async def get_async(app: App, runtime: Runtime, path: str, query: str = "") -> Response:
    return await app.arespond(Request("GET", path, query), runtime)


def body(response: Response) -> Any:
    return json.loads(response.body)


def test_io_task_waits_what_it_reports(app: App, sync_runtime: Runtime) -> None:
    response = get_sync(app, sync_runtime, "/io_task", "delay_ms=30")
    assert response.status == 200
    payload = body(response)
    assert payload["requested_ms"] == 30
    assert payload["waited_ms"] >= 29


async def test_io_task_waits_on_the_loop(app: App, async_runtime: Runtime) -> None:
    response = await get_async(app, async_runtime, "/io_task", "delay_ms=0")
    assert response.status == 200
    assert body(response)["requested_ms"] == 0


def test_cpu_task_counts_primes_inline(app: App, sync_runtime: Runtime) -> None:
    payload = body(get_sync(app, sync_runtime, "/cpu_task", "n=1000"))
    assert payload["n"] == 1000
    assert payload["primes_below_n"] == 168
    assert payload["elapsed_ms"] >= 0


async def test_cpu_task_counts_primes_in_the_pool(app: App, async_runtime: Runtime) -> None:
    payload = body(await get_async(app, async_runtime, "/cpu_task", "n=100"))
    assert payload["primes_below_n"] == 25


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/io_task", "delay_ms=-1", "delay_ms"),
        ("/io_task", "delay_ms=10001", "delay_ms"),
        ("/io_task", "delay_ms=soon", "delay_ms"),
        ("/io_task", "delay_ms=1&delay_ms=2", "delay_ms"),
        ("/io_task", "delay=5", "delay"),
        ("/cpu_task", "n=2000001", "n"),
        ("/cpu_task", "n=1.5", "n"),
        ("/error_task", "kind=meltdown", "kind"),
    ],
)
def test_bad_parameters_are_422_with_field_errors(
    app: App, sync_runtime: Runtime, path: str, query: str, field: str
) -> None:
    response = get_sync(app, sync_runtime, path, query)
    assert response.status == 422
    error = body(response)["error"]
    assert error["status"] == 422
    assert [item["loc"] for item in error["detail"]] == [[field]]
    assert "url" not in error["detail"][0]


def test_error_task_is_a_500_envelope_logged_with_its_request_id(
    app: App, sync_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="webduo.error"):
        response = get_sync(app, sync_runtime, "/error_task")
    error = body(response)["error"]
    assert response.status == 500
    assert error["request_id"] == response.headers.get("X-Request-ID")
    assert "Traceback" not in response.body.decode()
    assert "DeliberateError" not in response.body.decode()
    (record,) = caplog.records
    assert error["request_id"] in record.getMessage()
    assert record.exc_info is not None


@pytest.mark.parametrize(("kind", "status"), [("timeout", 504), ("bad_gateway", 502)])
async def test_error_task_kinds(app: App, async_runtime: Runtime, kind: str, status: int) -> None:
    response = await get_async(app, async_runtime, "/error_task", f"kind={kind}")
    assert response.status == status
    assert body(response)["error"]["status"] == status
