"""Prometheus metrics: what the App and the weather client count, and ``GET /metrics`` showing them.

prometheus-client chooses where values live when it is first imported: in this process's
memory, or — when ``PROMETHEUS_MULTIPROC_DIR`` is set, as a pre-fork master sets it for its
workers — in one file per process and kind that ``/metrics`` sums over every worker, the
dead ones' counters included. So it is imported here only when a process first creates its
:class:`Metrics` (:func:`process_metrics`), never at module import: a master that imported it
before setting the variable would fork workers that keep their counts to themselves.

Labels stay bounded whatever clients send: a request is labelled with its route's *name*
(``unmatched`` for 404, 405 and 501), and with its status.

Every response is counted, so counting must be cheap: prometheus-client's ``inc()`` and
``observe()`` take a lock each and, in multiprocess mode, write to an mmap'ed file (~2.5 µs a
response in one process, ~5 µs with ``--workers``; ``bench/metrics_cost.py``).
:meth:`Metrics.answered` only adds to plain tallies under one lock (~0.5 µs), and
:meth:`Metrics.flush` moves them into the prometheus metrics. ``/metrics`` flushes its own
process first, so one process shows every request answered before the scrape; in multiprocess
mode a thread also flushes every :data:`FLUSH_SECONDS`, so a sibling's scrape sees them soon
after, and a pre-forked worker flushes once more before it exits. The in-flight gauge stays
live: a batched gauge would show what was in flight up to a second ago.
"""

from __future__ import annotations

import bisect
import functools
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Literal

from webduo.core.http import Headers, Request, Response


if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


logger = logging.getLogger("webduo.metrics")

CacheLayer = Literal["memory", "redis"]
CACHE_LAYERS: Final[tuple[CacheLayer, ...]] = ("memory", "redis")
UNMATCHED: Final = "unmatched"
MULTIPROCESS_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
# The text format prometheus-client writes (generate_latest); its CONTENT_TYPE_LATEST now names 1.0.0.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_HEADERS: Final = Headers((("Content-Type", CONTENT_TYPE),))
# From a cached /hello (~0.1 ms) to a weather lookup that spends its whole 12 s budget.
LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
# How often a pre-forked worker's counts reach the files its siblings' /metrics reads, so how far
# such a scrape lags behind. Half the second promised, for margin on a busy machine; a flush costs
# ~50 µs of CPU.
FLUSH_SECONDS: Final = 0.5
# A tally: [sum of latencies, then the count per bucket, LATENCY_BUCKETS and +Inf, not cumulative].
_SUM: Final = 0


class Metrics:
    """One process's metrics; create it through :func:`process_metrics` (a name registers once).

    ``registry``: where the metrics register (prometheus-client's default one unless a test
    gives its own). ``flush_seconds``: flush the request tallies this often from a daemon
    thread, for other processes' scrapes; ``None``: only :meth:`flush` and ``/metrics`` do.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, flush_seconds: float | None = None) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics

        # The *_created series add a line per label set and exist only in one-process mode:
        # without them /metrics shows the same families however many workers run.
        disable_created_metrics()
        into = REGISTRY if registry is None else registry
        self.requests: Counter = Counter(
            "webduo_http_requests", "Requests answered, by route name and status.", ["route", "status"], registry=into
        )
        self.latency: Histogram = Histogram(
            "webduo_http_request_duration_seconds",
            "Time from a parsed request to its response, by route name.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=into,
        )
        # livesum: the workers' gauges add up, and a dead worker's stop counting (mark_process_dead).
        self.in_flight: Gauge = Gauge(
            "webduo_http_requests_in_flight",
            "Requests waiting on an upstream call, a timer or the CPU pool now.",
            multiprocess_mode="livesum",
            registry=into,
        )
        self.upstream_calls: Counter = Counter(
            "webduo_weather_upstream_calls", "Requests sent to Open-Meteo, retries included.", registry=into
        )
        self.cache_hits: Counter = Counter(
            "webduo_weather_cache_hits",
            "Weather lookups answered from a cache, by cache layer.",
            ["layer"],
            registry=into,
        )
        self.cache_misses: Counter = Counter(
            "webduo_weather_cache_misses",
            "Weather lookups that waited for an upstream call (their own or another's), by cache layer.",
            ["layer"],
            registry=into,
        )
        self.cache_errors: Counter = Counter(
            "webduo_weather_cache_errors",
            "Times a cache layer failed (Redis refused or timed out) and the lookup went on without it.",
            ["layer"],
            registry=into,
        )
        # Shown at 0 from the start, so a rate over them exists before the first event.
        for family in (self.cache_hits, self.cache_misses, self.cache_errors):
            for layer in CACHE_LAYERS:
                family.labels(layer)
        # Tallies not flushed yet, by (route, status). The sync engine answers from many threads:
        # `_tally` guards them (~0.15 µs uncontended). `_flushing` makes a flush wait for one that
        # is still applying its batch, so a scrape's flush returns only once everything answered
        # before it is in the prometheus metrics.
        self._tallies: dict[tuple[str, int], list[float]] = {}
        self._tally = threading.Lock()
        self._flushing = threading.Lock()
        # Children by label values: .labels() costs ~1 µs a call, a dict look-up ~30 ns.
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._closed = threading.Event()
        if flush_seconds is not None:
            # A thread, not a timer in each engine's loop: it is one place for both engines, and it
            # still flushes while a one-thread sync worker's loop is held by a long request, which
            # neither a loop timer nor a check in answered() would. It sleeps between flushes.
            threading.Thread(
                target=self._flush_every, args=(flush_seconds,), name="webduo-metrics-flush", daemon=True
            ).start()

    def answered(self, route: str, status: int, seconds: float) -> None:
        """Count one response of ``route`` (a route name or ``unmatched``) and its latency.

        Tallied in this process; the prometheus metrics have it after the next :meth:`flush`.
        """
        key = (route, status)
        # bisect_left: the first bound >= seconds, as prometheus' `le` (a latency equal to a bound is in it).
        bucket = bisect.bisect_left(LATENCY_BUCKETS, seconds) + 1
        # acquire/release, not `with`: ~0.15 µs less a call, a quarter of what is left of it.
        lock = self._tally
        lock.acquire()
        try:
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
            tally[_SUM] += seconds
            tally[bucket] += 1
        finally:
            lock.release()

    def flush(self) -> None:
        """Move the tallies into the prometheus metrics (and, in multiprocess mode, to the files)."""
        with self._flushing:
            with self._tally:
                if not self._tallies:
                    return
                tallies, self._tallies = self._tallies, {}
            for key, tally in tallies.items():
                counter, histogram = self._children_of(key)
                counts = tally[_SUM + 1 :]
                counter.inc(sum(counts))
                observe_batch(histogram, counts, tally[_SUM])

    def close(self) -> None:
        """Flush what is left and stop the flushing thread: before a worker process exits."""
        self._closed.set()
        self.flush()

    def _children_of(self, key: tuple[str, int]) -> tuple[Counter, Histogram]:
        children = self._children.get(key)
        if children is None:
            route, status = key
            children = self._children[key] = (self.requests.labels(route, str(status)), self.latency.labels(route))
        return children

    def _flush_every(self, seconds: float) -> None:
        while not self._closed.wait(seconds):
            try:
                self.flush()
            except Exception:  # a full disk under the metrics folder: keep serving, try again later
                logger.exception("cannot flush the request metrics")

    def weather_lookup(self, layer: CacheLayer, hit: bool) -> None:
        (self.cache_hits if hit else self.cache_misses).labels(layer).inc()


def observe_batch(histogram: Histogram, counts: Sequence[float], total: float) -> None:
    """Add to a histogram child ``counts[i]`` observations in bucket ``i`` (not cumulative, +Inf
    last) whose latencies add up to ``total``: what as many ``observe()`` calls would add.

    prometheus-client has no public way to observe many values at once; its maintainers point
    to custom collectors instead (client_python #733, #1124), which multiprocess mode cannot
    use: only values in its files are summed. So this is the one place that relies on private
    attributes: a child keeps one value per bucket, not cumulative, in ``_buckets``, and the
    total in ``_sum``; each has the ``inc(amount)`` that ``observe()`` calls.
    ``tests/test_metrics_batch.py`` fails if an upgrade changes that.
    """
    for value, count in zip(histogram._buckets, counts, strict=True):
        if count:
            value.inc(count)
    histogram._sum.inc(total)


@functools.cache
def process_metrics() -> Metrics:
    """This process's metrics, created on first use (after the fork, in a pre-forked worker).

    In multiprocess mode they are flushed every :data:`FLUSH_SECONDS`, for the other workers' scrapes.
    """
    multiprocess = bool(os.environ.get(MULTIPROCESS_VARIABLE))
    return Metrics(flush_seconds=FLUSH_SECONDS if multiprocess else None)


def flush_process_metrics() -> None:
    """Flush this process's metrics for good if it has any: the last thing a pre-forked worker does."""
    if process_metrics.cache_info().currsize:
        process_metrics().close()


def exposition() -> bytes:
    """Every metric in the Prometheus text format; summed over all workers in multiprocess mode."""
    # Creates a fresh process's families (shown at zero), and counts all it answered so far.
    process_metrics().flush()
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
