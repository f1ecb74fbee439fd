"""Request counts tallied in batches (no sockets): what a flush adds equals what one-by-one counting adds.

Each test gives :class:`Metrics` a registry of its own, so nothing here touches the default one.
"""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from tests.processes import wait_for
from webduo.core.metrics import LATENCY_BUCKETS, Metrics, observe_batch


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
REQUEST_FAMILIES = ("webduo_http_requests", "webduo_http_request_duration_seconds")
# Every bound exactly (`le` includes it), either side of each, zero and beyond the last bound.
LATENCIES = (
    0.0,
    *LATENCY_BUCKETS,
    *(bound * 0.999 for bound in LATENCY_BUCKETS),
    *(bound * 1.001 for bound in LATENCY_BUCKETS),
    LATENCY_BUCKETS[-1] * 10,
)


def samples(registry: CollectorRegistry) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in registry.collect()
        if family.name in REQUEST_FAMILIES
        for sample in family.samples
    }


def assert_same(found: Samples, expected: Samples) -> None:
    """Equal counts; equal sums but for the last digits (floats added in another order)."""
    assert found.keys() == expected.keys()
    assert {key: found[key] for key in found if not key[0].endswith("_sum")} == {
        key: count for key, count in expected.items() if not key[0].endswith("_sum")
    }
    for key in expected:
        if key[0].endswith("_sum"):
            assert found[key] == pytest.approx(expected[key], rel=1e-9)


def hello_count(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("webduo_http_requests_total", {"route": "hello", "status": "200"})


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Iterator[Metrics]:
    batched = Metrics(registry)
    yield batched
    batched.close()


def one_by_one(answers: list[tuple[str, int, float]]) -> Samples:
    """The same metrics as :class:`Metrics`, fed with prometheus-client's own inc() and observe()."""
    registry = CollectorRegistry()
    requests = Counter("webduo_http_requests", "", ["route", "status"], registry=registry)
    latency = Histogram(
        "webduo_http_request_duration_seconds", "", ["route"], buckets=LATENCY_BUCKETS, registry=registry
    )
    for route, status, seconds in answers:
        requests.labels(route, str(status)).inc()
        latency.labels(route).observe(seconds)
    return samples(registry)


def test_a_flush_adds_what_observing_one_by_one_adds(metrics: Metrics, registry: CollectorRegistry) -> None:
    """Also pins the prometheus-client internals observe_batch relies on: an upgrade that
    renames or reshapes a histogram child's ``_buckets`` or ``_sum`` fails here."""
    answers = [("hello", 200, seconds) for seconds in LATENCIES] + [
        ("unmatched", 404, 0.0003),
        ("unmatched", 405, 0.002),
        ("hello", 500, 0.01),
    ]
    for answer in answers[:20]:
        metrics.answered(*answer)
    metrics.flush()
    for answer in answers[20:]:
        metrics.answered(*answer)
    metrics.flush()
    assert_same(samples(registry), one_by_one(answers))


def test_counts_wait_for_a_flush_and_are_added_once(metrics: Metrics, registry: CollectorRegistry) -> None:
    metrics.answered("hello", 200, 0.001)
    assert hello_count(registry) is None
    metrics.flush()
    metrics.flush()
    assert hello_count(registry) == 1.0


def test_the_private_attributes_observe_batch_uses_are_still_there() -> None:
    histogram = Histogram("pinned", "", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    # One non-cumulative value per bound, +Inf last, and the sum: what observe() increments.
    assert len(histogram._buckets) == len(LATENCY_BUCKETS) + 1
    observe_batch(histogram, [0.0] * len(LATENCY_BUCKETS) + [2.0], 40.0)
    (family,) = histogram.collect()
    values = {(sample.name, sample.labels.get("le")): sample.value for sample in family.samples}
    assert (values[("pinned_bucket", "15.0")], values[("pinned_bucket", "+Inf")]) == (0.0, 2.0)
    assert (values[("pinned_count", None)], values[("pinned_sum", None)]) == (2.0, 40.0)


def test_threads_answering_and_flushing_at_once_lose_no_count(metrics: Metrics, registry: CollectorRegistry) -> None:
    # Unguarded, a count is lost only when a thread switch falls inside answered() or the swap
    # in flush(): switching as often as the interpreter can, a round of 40,000 calls loses some
    # about two times in three, so ten rounds all but never miss it.
    threads, calls, rounds = 8, 5_000, 10
    done = threading.Event()

    def answer(number: int) -> None:
        for call in range(calls):
            metrics.answered(f"route-{call % 3}", 200 + number % 2, LATENCIES[call % len(LATENCIES)])

    def flush_meanwhile() -> None:
        while not done.is_set():
            metrics.flush()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(rounds):
            done.clear()
            flusher = threading.Thread(target=flush_meanwhile)
            flusher.start()
            workers = [threading.Thread(target=answer, args=(number,)) for number in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            done.set()
            flusher.join()
    finally:
        sys.setswitchinterval(interval)
    metrics.flush()
    expected = collections.Counter(
        (f"route-{call % 3}", str(200 + number % 2)) for number in range(threads) for call in range(calls)
    )
    found = {
        (route, status): registry.get_sample_value("webduo_http_requests_total", {"route": route, "status": status})
        for route, status in expected
    }
    assert found == {key: count * rounds for key, count in expected.items()}
    for route in {route for route, _ in expected}:
        observed = registry.get_sample_value("webduo_http_request_duration_seconds_count", {"route": route})
        assert observed == sum(count for (name, _), count in expected.items() if name == route) * rounds


def test_a_flushing_thread_moves_tallies_without_being_asked(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, flush_seconds=0.05)
    try:
        for _ in range(3):
            metrics.answered("hello", 200, 0.001)
        assert wait_for(lambda: hello_count(registry), lambda count: count == 3, 10) == 3
    finally:
        metrics.close()
    flushers = wait_for(
        lambda: [thread for thread in threading.enumerate() if thread.name == "webduo-metrics-flush"],
        lambda found: not found,
        10,
    )
    assert not flushers, "close() left the flushing thread running"


def test_close_flushes_what_is_left(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, flush_seconds=3600)
    metrics.answered("hello", 200, 0.001)
    metrics.close()
    assert hello_count(registry) == 1
