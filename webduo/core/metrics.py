"""Prometheus metrics: what the App and the weather client count, and ``GET /metrics`` showing them.

prometheus-client chooses where values live when it is first imported: in this process's
memory, or — when ``PROMETHEUS_MULTIPROC_DIR`` is set, as a pre-fork master sets it for its
workers — in one file per process and kind that ``/metrics`` sums over every worker, the
dead ones' counters included. So it is imported here only when a process first creates its
:class:`Metrics` (:func:`process_metrics`), never at module import: a master that imported it
before setting the variable would fork workers that keep their counts to themselves.

Labels stay bounded whatever clients send: a request is labelled with its route's *name*
(``unmatched`` for 404, 405 and 501), and with its status.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Final, Literal

from webduo.core.http import Headers, Request, Response


if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram


CacheLayer = Literal["memory", "redis"]
CACHE_LAYERS: Final[tuple[CacheLayer, ...]] = ("memory", "redis")
UNMATCHED: Final = "unmatched"
MULTIPROCESS_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
# The text format prometheus-client writes (generate_latest); its CONTENT_TYPE_LATEST now names 1.0.0.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_HEADERS: Final = Headers((("Content-Type", CONTENT_TYPE),))
# From a cached /hello (~0.1 ms) to a weather lookup that spends its whole 12 s budget.
LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


class Metrics:
    """One process's metrics; create it through :func:`process_metrics` (a name registers once)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

        # The *_created series add a line per label set and exist only in one-process mode:
        # without them /metrics shows the same families however many workers run.
        disable_created_metrics()
        self.requests: Counter = Counter(
            "webduo_http_requests", "Requests answered, by route name and status.", ["route", "status"]
        )
        self.latency: Histogram = Histogram(
            "webduo_http_request_duration_seconds",
            "Time from a parsed request to its response, by route name.",
            ["route"],
            buckets=LATENCY_BUCKETS,
        )
        # livesum: the workers' gauges add up, and a dead worker's stop counting (mark_process_dead).
        self.in_flight: Gauge = Gauge(
            "webduo_http_requests_in_flight", "Requests being answered now.", multiprocess_mode="livesum"
        )
        self.upstream_calls: Counter = Counter(
            "webduo_weather_upstream_calls", "Requests sent to Open-Meteo, retries included."
        )
        self.cache_hits: Counter = Counter(
            "webduo_weather_cache_hits", "Weather lookups answered from a cache, by cache layer.", ["layer"]
        )
        self.cache_misses: Counter = Counter(
            "webduo_weather_cache_misses",
            "Weather lookups that waited for an upstream call (their own or another's), by cache layer.",
            ["layer"],
        )
        self.cache_errors: Counter = Counter(
            "webduo_weather_cache_errors",
            "Times a cache layer failed (Redis refused or timed out) and the lookup went on without it.",
            ["layer"],
        )
        # Shown at 0 from the start, so a rate over them exists before the first event.
        for family in (self.cache_hits, self.cache_misses, self.cache_errors):
            for layer in CACHE_LAYERS:
                family.labels(layer)
        # Children by label values: .labels() costs ~1 µs a call, a dict look-up ~30 ns.
        self._answered: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def answered(self, route: str, status: int, seconds: float) -> None:
        """Count one response of ``route`` (a route name or ``unmatched``) and its latency."""
        children = self._answered.get((route, status))
        if children is None:
            children = self._answered[(route, status)] = (
                self.requests.labels(route, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def weather_lookup(self, layer: CacheLayer, hit: bool) -> None:
        (self.cache_hits if hit else self.cache_misses).labels(layer).inc()


@functools.cache
def process_metrics() -> Metrics:
    """This process's metrics, created on first use (after the fork, in a pre-forked worker)."""
    return Metrics()


def exposition() -> bytes:
    """Every metric in the Prometheus text format; summed over all workers in multiprocess mode."""
    process_metrics()  # so a fresh process shows its families, at zero
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(MULTIPROCESS_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics(request: Request) -> Response:
    """The server's metrics in the Prometheus text format, for Prometheus to scrape.

    Requests by route and status, latency by route, requests in flight, and the weather
    client's upstream calls and cache hits, misses and errors; summed over ``--workers``.
    """
    return Response(200, _HEADERS, exposition())
