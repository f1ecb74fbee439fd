"""The in-process weather cache: a TTL store (Open-Meteo's ``current`` data changes every 15
minutes) and the single-flight policy that keeps concurrent misses for one place to one upstream
call. The cache every process shares is :mod:`~webduo.core.weather.shared_cache`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from webduo.core.metrics import CacheLayer
from webduo.core.weather.models import Forecast


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
CacheStatus = Literal["HIT", "MISS"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """A forecast, whether a cache had it (the ``X-Cache`` header), and which cache answered."""

    forecast: Forecast
    cache: CacheStatus
    layer: CacheLayer = "memory"


class TTLCache(Generic[K, V]):
    """Values expire ``ttl`` seconds after they were stored; ``ttl=0`` disables caching.

    Bounded by ``max_entries`` (oldest stored first out) so arbitrary coordinates cannot grow
    a worker without limit. A lock makes it safe for the sync engine's threads.
    """

    def __init__(self, ttl: float, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            return value

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (self._clock() + self.ttl, value)

    def __len__(self) -> int:
        return len(self._entries)


class Flight(Protocol):
    """What :class:`SingleFlight` needs of a call in the air: both kinds of future fit."""

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...

    def cancelled(self) -> bool: ...

    def exception(self) -> BaseException | None: ...


F = TypeVar("F", bound=Flight)


class SingleFlight(Generic[K, F]):
    """At most one call per key in the air: concurrent misses for a key share the first one's call.

    The one policy for both engines; only the future differs — a
    :class:`concurrent.futures.Future` a sync worker's threads block on, an :mod:`asyncio` task
    an event loop awaits. A flight is forgotten as it lands, so the next miss (the cache
    having expired, or the call failed) makes a new call.
    """

    def __init__(self) -> None:
        self._flights: dict[K, F] = {}
        # The sync engine's threads board concurrently; on an event loop the lock is never contended.
        self._lock = threading.Lock()

    def board(self, key: K, launch: Callable[[], F]) -> F:
        """The flight in the air for ``key``, or the one ``launch()`` starts if there is none.

        ``launch`` runs under the lock, so it must only create the future, not wait for it.
        """
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight
            flight = launch()
            self._flights[key] = flight
        # Outside the lock: a concurrent.futures.Future already done calls back at once.
        flight.add_done_callback(lambda landed: self._landed(key, landed))
        return flight

    def _landed(self, key: K, flight: F) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        # Mark a failure as seen even when every waiter went away, so asyncio does not warn about it.
        if not flight.cancelled():
            flight.exception()

    def __len__(self) -> int:
        return len(self._flights)
