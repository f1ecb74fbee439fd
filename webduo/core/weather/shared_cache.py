"""The weather cache every replica and worker shares, on Redis or Valkey: one upstream call per miss.

Sans-IO, like :mod:`~webduo.core.weather.retry`: :meth:`SharedCache.lookup` is a generator that
yields :class:`Command` steps (one Redis command each; the client sends back the reply, or
:class:`Unreachable`) among the upstream plan's own steps, and decides everything else. The
blocking client sends commands with redis-py's ``Redis``, the async one with ``redis.asyncio``;
nothing else differs between the engines.

Per place, with ``K = webduo:v1:weather:<lat>:<lon>:<units>`` (the prefix is versioned so a
release that changes the stored shape does not read the old one):

- ``MGET K K:lock``: a stored report is a hit. The value is the forecast's JSON.
- Otherwise ``SET K:lock <token> NX PX <budget>``: the one process that gets the lock calls
  Open-Meteo, then stores the report (``PX`` the TTL) and releases the lock in one script, so a
  reader sees either the lock or the report, never neither.
- Every other process polls ``MGET K K:lock K:error:<holder's token>``, 5 ms doubling to 50 ms.
  Polling rather than ``BLPOP`` or pub/sub because each process's single-flight already
  collapses its own concurrent misses: there is at most one poller per process and place, a
  few dozen cheap reads a second at worst. Polling holds no connection per waiter (``BLPOP``
  and ``SUBSCRIBE`` block one each), has no race between a notice and a subscription, and sees
  at once when a dead holder's lock expires, so the next waiter takes over.
- Waiting is bounded by the weather budget plus a margin, the lock's own lifetime: past it a
  waiter calls Open-Meteo itself.
- A failure is not cached: the holder hands its error to the waiters of its own call, under a
  key named by its token that nobody else ever reads, and the next miss calls again — as
  single-flight does within one process. Caching a 502 for the whole fleet would keep serving
  it after Open-Meteo recovered, and the retry plan already paces its own retries.
- Redis failing (refused, reset, or slower than the short socket timeout) is not a 500: the
  lookup goes on with the in-process cache, one warning says so, and Redis is tried again
  after :data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError

from webduo.core.metrics import Metrics
from webduo.core.weather.cache import Lookup
from webduo.core.weather.errors import WeatherError
from webduo.core.weather.models import Forecast, WeatherQuery
from webduo.core.weather.retry import Pause, Send


if TYPE_CHECKING:
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

T = TypeVar("T")
logger = logging.getLogger("webduo.weather")

PREFIX: Final = "webduo:v1:weather:"
# Redis near its clients answers in well under a millisecond; one that takes longer is treated as
# down rather than let every lookup wait for it.
SOCKET_TIMEOUT: Final = 0.5
# How long a process leaves Redis alone after it failed.
RETRY_SECONDS: Final = 5.0
# The lock outlives the holder's whole weather budget by this much: long enough to store.
LOCK_MARGIN: Final = 1.0
FIRST_POLL: Final = 0.005
LAST_POLL: Final = 0.05
# A handed-over error is read by waiters polling every LAST_POLL at most; this only bounds the garbage.
ERROR_SECONDS: Final = 5.0
# KEYS: lock, destination; ARGV: token, value, milliseconds. Stores, then releases the lock if it
# is still ours (it may have expired and gone to another process meanwhile).
STORE_AND_RELEASE: Final = """
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Command:
    """Send one Redis command; answer the flow with its reply, or :class:`Unreachable`."""

    args: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Unreachable:
    """What a :class:`Command` gets when Redis did not answer: refused, reset, timed out."""

    error: Exception


Step: TypeAlias = "Send | Pause | Command"
Flow: TypeAlias = Generator[Step, Any, T]
"""A lookup as steps: upstream requests and pauses (:mod:`.retry`) and Redis commands."""


def connect(url: str) -> Redis:
    """A blocking client with a connection pool the sync worker's threads share."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    # One immediate retry, on a fresh connection, when the server closed the one in hand (a Redis
    # restart leaves such connections in the pool): that is not Redis being down. Nothing more:
    # a refused or slow Redis is this module's fallback's to answer, at once, and a timeout is
    # never retried.
    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, retry=retry)


def connect_async(url: str) -> AsyncRedis:
    """An asyncio client for the event loop, configured like :func:`connect`."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, retry=retry)


def failures() -> tuple[type[Exception], ...]:
    """What a Redis command raises when Redis cannot answer; imported only once Redis is in use."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def redacted(url: str) -> str:
    """``host:port/db`` of a Redis URL: what a log line may show (never its password)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}/{parts.path.strip('/') or '0'}"


class Availability:
    """Whether Redis is in use now: not for :data:`RETRY_SECONDS` after a failure.

    One warning when an outage starts and one line when it ends, not one per request.
    """

    def __init__(self, where: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.where = where
        self._clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    def usable(self) -> bool:
        return not self._down or self._clock() >= self._retry_at

    def failed(self, error: Exception) -> None:
        with self._lock:
            started, self._down = not self._down, True
            self._retry_at = self._clock() + RETRY_SECONDS
        if started:
            logger.warning(
                "Redis at %s failed (%s: %s); weather reports come from each process's own cache until it"
                " answers again (tried every %g s)",
                self.where,
                type(error).__name__,
                error,
                RETRY_SECONDS,
            )

    def answered(self) -> None:
        if not self._down:
            return
        with self._lock:
            ended, self._down = self._down, False
        if ended:
            logger.info("Redis at %s answers again; weather reports are shared again", self.where)


@dataclass(frozen=True, slots=True)
class _Keys:
    value: str

    @property
    def lock(self) -> str:
        return self.value + ":lock"

    def error(self, token: str) -> str:
        return f"{self.value}:error:{token}"


class SharedCache:
    """The shared-cache policy of one process: the commands of a lookup and what their replies mean."""

    def __init__(
        self,
        where: str,
        *,
        ttl: float,
        decimals: int,
        budget: float,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.availability = Availability(where, clock)
        self.ttl_ms = max(1, round(ttl * 1000))
        self.lock_ms = round((budget + LOCK_MARGIN) * 1000)
        self._decimals = decimals
        self._metrics = metrics
        self._clock = clock

    def usable(self) -> bool:
        return self.availability.usable()

    def key(self, place: WeatherQuery) -> str:
        """``webduo:v1:weather:<lat>:<lon>:<units>`` of an already rounded query."""
        decimals = self._decimals
        # + 0.0: a small negative coordinate rounds to -0.0, which must name the same place as 0.0.
        return f"{PREFIX}{place.lat + 0.0:.{decimals}f}:{place.lon + 0.0:.{decimals}f}:{place.units}"

    def lookup(self, place: WeatherQuery, fetch: Callable[[], Flow[Forecast]]) -> Flow[Lookup | None]:
        """The report for ``place`` from Redis, or from the one upstream call ``fetch`` makes for everyone.

        ``None`` when Redis failed before a report was in hand: the caller answers without it.
        Raises the :class:`WeatherError` of our own call, or the one handed over by its holder.
        """
        keys = _Keys(self.key(place))
        token = os.urandom(8).hex()
        deadline = self._clock() + self.lock_ms / 1000
        holder: str | None = None
        pause = FIRST_POLL
        while True:
            wanted = (keys.value, keys.lock) if holder is None else (keys.value, keys.lock, keys.error(holder))
            reply = yield Command(("MGET", *wanted))
            if self._failed(reply):
                return None
            value, lock, *handed = reply
            forecast = self._forecast(keys, value)
            if forecast is not None:
                return Lookup(forecast, "HIT" if holder is None else "MISS", "redis")
            if handed and handed[0] is not None:
                raise _error(handed[0])
            if self._clock() >= deadline:
                # The holder is stuck (or holders keep dying): answer this request ourselves.
                return (yield from self._fetch_for_all(keys, None, fetch))
            if lock is None:
                taken = yield Command(("SET", keys.lock, token, "NX", "PX", self.lock_ms))
                if self._failed(taken):
                    return None
                if taken:
                    return (yield from self._fetch_for_all(keys, token, fetch))
                continue  # another process took it first: see whose it is, at once
            holder = lock.decode()
            yield Pause(pause)
            pause = min(pause * 2, LAST_POLL)

    def _fetch_for_all(self, keys: _Keys, token: str | None, fetch: Callable[[], Flow[Forecast]]) -> Flow[Lookup]:
        """Call upstream and store the report (or hand the error over) for whoever waits on ``token``."""
        try:
            forecast = yield from fetch()
        except WeatherError as error:
            if token is not None:
                handed = json.dumps(error.detail | {"status": error.status})
                self._failed((yield _store(keys, keys.error(token), handed, round(ERROR_SECONDS * 1000), token)))
            raise
        # The report is in hand: it answers this request even if Redis cannot keep it.
        self._failed((yield _store(keys, keys.value, forecast.model_dump_json(), self.ttl_ms, token)))
        return Lookup(forecast, "MISS", "redis")

    def _failed(self, reply: Any) -> bool:
        if isinstance(reply, Unreachable):
            self.availability.failed(reply.error)
            if self._metrics is not None:
                self._metrics.cache_errors.labels("redis").inc()
            return True
        self.availability.answered()
        return False

    @staticmethod
    def _forecast(keys: _Keys, value: bytes | None) -> Forecast | None:
        if value is None:
            return None
        try:
            return Forecast.model_validate_json(value)
        except ValidationError:
            # Not ours to read (another program's, or damaged): a miss, overwritten by the next store.
            logger.warning("ignoring an unreadable weather report at %s", keys.value)
            return None


def _store(keys: _Keys, destination: str, value: str, ms: int, token: str | None) -> Command:
    """Set ``destination`` for ``ms``; with our lock's ``token``, release the lock in the same step."""
    if token is None:
        return Command(("SET", destination, value, "PX", ms))
    return Command(("EVAL", STORE_AND_RELEASE, 2, keys.lock, destination, token, value, ms))


def _error(raw: bytes) -> WeatherError:
    """The holder's error, as it would have raised it here."""
    try:
        fields = json.loads(raw)
        return WeatherError(fields["status"], fields["reason"], fields["upstream_status"], fields["attempts"])
    except (ValueError, KeyError, TypeError):
        return WeatherError(502, "Open-Meteo failed for another webduo process, which left an unreadable reason")
