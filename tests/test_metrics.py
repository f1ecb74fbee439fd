"""``GET /metrics`` on both engines: what known requests add, labels that stay bounded, workers summed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import children, survivors, wait_for
from tests.servers import ENGINES, RunningServer, raw_response, run_server
from webduo.core.metrics import CONTENT_TYPE, MULTIPROCESS_VARIABLE
from webduo.core.routes import build_routes
from webduo.testing.openmeteo import FakeOpenMeteo


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    # A connection of its own: a pre-forked server's other worker may be paused meanwhile.
    response = httpx.get(f"{base_url}/metrics", headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, status: int) -> float:
    return value(samples, "webduo_http_requests_total", route=route, status=str(status))


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    response = client.get("/metrics")
    assert (response.status_code, response.headers["content-type"]) == (200, CONTENT_TYPE)
    families = {family.name: family.type for family in text_string_to_metric_families(response.text)}
    assert {
        "webduo_http_requests": "counter",
        "webduo_http_request_duration_seconds": "histogram",
        "webduo_http_requests_in_flight": "gauge",
        "webduo_weather_upstream_calls": "counter",
        "webduo_weather_cache_hits": "counter",
        "webduo_weather_cache_misses": "counter",
        "webduo_weather_cache_errors": "counter",
    }.items() <= families.items()


def test_counts_move_with_known_requests(client: httpx.Client, server: RunningServer) -> None:
    before = scrape(server.base_url)
    for _ in range(3):
        client.get("/hello")
    client.get("/no/such/path")
    client.delete("/hello")
    # A request the parser refuses is answered by App.refuse: counted too.
    assert raw_response(server.port, b"GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n").startswith(b"HTTP/1.1 400")
    after = scrape(server.base_url)

    def added(route: str, status: int) -> float:
        return requests(after, route, status) - requests(before, route, status)

    assert added("hello", 200) == 3
    assert added("unmatched", 404) == 1
    assert added("unmatched", 405) == 1
    assert added("unmatched", 400) == 1
    assert added("metrics", 200) == 1  # the first scrape
    hello_latency = "webduo_http_request_duration_seconds_count"
    assert value(after, hello_latency, route="hello") - value(before, hello_latency, route="hello") == 3


def test_a_scrape_counts_every_request_answered_before_it(server: RunningServer) -> None:
    """Counts are tallied in batches; the process answering /metrics flushes its own first."""
    calls = 48
    before = scrape(server.base_url)

    def get(number: int) -> int:
        path = "/hello" if number % 3 else "/no/such/path"
        return httpx.get(f"{server.base_url}{path}", headers={"Connection": "close"}, timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(get, range(calls)))
    assert statuses.count(200) == 32
    after = scrape(server.base_url)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("webduo_http_requests_total", route="hello", status="200") == 32
    assert added("webduo_http_requests_total", route="unmatched", status="404") == 16
    for route, count in (("hello", 32), ("unmatched", 16)):
        assert added("webduo_http_request_duration_seconds_count", route=route) == count
        assert added("webduo_http_request_duration_seconds_bucket", route=route, le="+Inf") == count
        assert added("webduo_http_request_duration_seconds_sum", route=route) > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_request_waiting_on_an_effect_is_in_flight(engine: str, server_env: dict[str, str], tmp_path: Path) -> None:
    # Two threads, so the sync engine can answer the scrape while one waits.
    with run_server(engine, tmp_path, {**server_env, "WEBDUO_THREADS": "2"}) as server:

        def in_flight() -> float:
            return value(scrape(server.base_url), "webduo_http_requests_in_flight")

        assert in_flight() == 0  # answering /hello or the scrape waits on nothing: never in flight
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(httpx.get, f"{server.base_url}/io_task", params={"delay_ms": 1500}, timeout=10)
            deadline = time.monotonic() + 5
            while in_flight() != 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert in_flight() == 1
            assert waiting.result().status_code == 200
        assert in_flight() == 0


def test_unknown_paths_do_not_become_labels(client: httpx.Client) -> None:
    paths = [f"/probe-{uuid.uuid4().hex}" for _ in range(5)]
    for path in paths:
        assert client.get(path).status_code == 404
    text = client.get("/metrics").text
    assert not [path for path in paths if path in text]
    routes = {
        sample.labels["route"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "route" in sample.labels
    }
    assert routes <= {route.name for route in build_routes()} | {"unmatched"}


def test_weather_lookups_count_upstream_calls_hits_and_misses(
    client: httpx.Client, server: RunningServer, openmeteo: FakeOpenMeteo
) -> None:
    before = scrape(server.base_url)
    params = {"lat": "-41.29", "lon": "174.78"}
    assert [client.get("/weather", params=params).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
    after = scrape(server.base_url)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("webduo_weather_upstream_calls_total") == 1
    assert added("webduo_weather_cache_misses_total", layer="memory") == 1
    assert added("webduo_weather_cache_hits_total", layer="memory") == 1
    assert added("webduo_weather_cache_hits_total", layer="redis") == 0


def served_while_paused(server: RunningServer, paused: int, count: int) -> None:
    """``count`` requests to /hello, all answered by the other worker: ``paused`` cannot accept."""
    os.kill(paused, signal.SIGSTOP)
    try:
        for _ in range(count):
            response = httpx.get(f"{server.base_url}/hello", headers={"Connection": "close"}, timeout=10)
            assert response.status_code == 200
    finally:
        os.kill(paused, signal.SIGCONT)


def in_files(folder: Path, route: str, status: int) -> float:
    """``route``'s count summed over the workers' files, as any worker's /metrics sums it.

    Read here, not scraped: a worker that answers /metrics flushes its own counts first, so
    only reading the files shows what the workers flushed by themselves.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    found = registry.get_sample_value("webduo_http_requests_total", {"route": route, "status": str(status)})
    return found or 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_workers_counts_are_summed_and_their_folder_removed(
    engine: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    parent = tmp_path / "metrics"
    parent.mkdir()
    env = {**server_env, "WEBDUO_METRICS_DIR": str(parent)}
    with run_server(engine, tmp_path, env, args=("--workers", "2")) as server:
        workers = wait_for(lambda: children(server.process.pid), lambda found: len(found) == 2, 20)
        first, second = sorted(workers)
        (folder,) = parent.iterdir()
        # Each worker alone answers some requests, and flushes them by itself within a flush
        # interval (half a second), with nothing lost or counted twice; either may answer the scrape.
        served_while_paused(server, second, 3)
        served_while_paused(server, first, 4)
        assert wait_for(lambda: in_files(folder, "hello", 200), lambda found: found >= 7, 10) == 7
        assert requests(scrape(server.base_url), "hello", 200) == 7
        assert {path.name for path in folder.glob("counter_*.db")} == {f"counter_{pid}.db" for pid in workers}

        # A dead worker's in-flight gauge is dropped; its counts stay in the totals.
        os.kill(first, signal.SIGKILL)
        respawned = wait_for(
            lambda: children(server.process.pid), lambda found: first not in found and len(found) == 2, 20
        )
        assert first not in respawned
        assert not (folder / f"gauge_livesum_{first}.db").exists()
        assert (folder / f"counter_{first}.db").exists()
        samples = scrape(server.base_url)
        assert requests(samples, "hello", 200) == 7
        assert value(samples, "webduo_http_requests_in_flight") == 0  # the scrape waits on nothing
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_worker_stopped_gracefully_keeps_every_count(engine: str, server_env: dict[str, str], tmp_path: Path) -> None:
    with run_server(engine, tmp_path, server_env, args=("--workers", "2")) as server:
        workers = wait_for(lambda: children(server.process.pid), lambda found: len(found) == 2, 20)
        first, second = sorted(workers)
        # SIGTERM right after its last answer: a periodic flush has most likely not run since,
        # so these counts reach the folder only if the worker flushes on its way out.
        served_while_paused(server, second, 5)
        os.kill(first, signal.SIGTERM)
        assert not survivors([first], 20)
        assert requests(scrape(server.base_url), "hello", 200) == 5


# The first worker tallies and returns at once, well inside a flush interval: only the flush on
# its way out can put its counts in the folder, where the worker started after it reads them.
POOL_EXIT_SCRIPT = """
import os, signal, sys
from webduo.core.metrics import MULTIPROCESS_VARIABLE, process_metrics
from webduo.engines.prefork import run_pool

def worker(early_signals, master_pid):
    # Imported in the worker: once the master has set the folder, as the servers do.
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if not os.path.exists(sys.argv[1]):
        open(sys.argv[1], "w").close()
        for _ in range(5):
            process_metrics().answered("hello", 200, 0.001)
        return
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ[MULTIPROCESS_VARIABLE])
    print(registry.get_sample_value("webduo_http_requests_total", {"route": "hello", "status": "200"}), flush=True)
    os.kill(master_pid, signal.SIGTERM)

run_pool(1, 5.0, sys.argv[2], worker, ())
"""


def test_a_pool_worker_flushes_its_counts_as_it_exits(tmp_path: Path) -> None:
    # A fresh interpreter: prometheus-client reads PROMETHEUS_MULTIPROC_DIR when first imported.
    command = [sys.executable, "-c", POOL_EXIT_SCRIPT, str(tmp_path / "first-ran"), str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if key != MULTIPROCESS_VARIABLE}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.split()) == (0, ["5.0"]), done.stderr
