"""``GET /metrics`` on both engines: what known requests add, labels that stay bounded, workers summed."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import children, wait_for
from tests.servers import ENGINES, RunningServer, raw_response, run_server
from webduo.core.metrics import CONTENT_TYPE
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
        # Each worker alone answers some requests; either may answer the scrape.
        served_while_paused(server, second, 3)
        served_while_paused(server, first, 4)
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
        assert value(samples, "webduo_http_requests_in_flight") == 1  # the scrape itself
    assert list(parent.iterdir()) == []
