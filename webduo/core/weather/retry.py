"""The retry loop, written once as a plan of steps that a blocking and an async client drive.

A :class:`Plan` yields :class:`Send` (an ``httpx.Request`` whose timeouts fit what is left of
the total budget) and :class:`Pause` (a jittered backoff), and is sent back what each step
produced. It decides alone what is retried, when to give up and what the answer or the error
is; the clients only perform the steps, by blocking or by awaiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final, Generic, TypeAlias, TypeVar

import httpx
from pydantic import ValidationError

from webduo.core.weather.errors import WeatherError, bad_gateway, gateway_timeout
from webduo.core.weather.models import UpstreamErrorBody
from webduo.settings import Settings


T = TypeVar("T")

# Open-Meteo's transient answers: rate limit, overload, and the proxy's outage pages.
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
# Failures before a request was processed, so a GET can be repeated safely. A read timeout is
# not among them: the upstream is slow, and asking again would only spend the budget twice.
RETRY_TRANSPORT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How patiently Open-Meteo is called; every number comes from :class:`Settings`."""

    retries: int
    backoff: float
    total_timeout: float
    connect_timeout: float
    read_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            retries=settings.weather_retries,
            backoff=settings.weather_backoff,
            total_timeout=settings.weather_total_timeout,
            connect_timeout=settings.weather_connect_timeout,
            read_timeout=settings.weather_read_timeout,
        )

    def timeout_within(self, remaining: float) -> httpx.Timeout:
        """Per-attempt timeouts, none longer than what is left of the total budget.

        ``pool`` bounds the wait for the one upstream connection a process keeps.
        """
        left = max(remaining, 0.001)
        read = min(self.read_timeout, left)
        return httpx.Timeout(connect=min(self.connect_timeout, left), read=read, write=read, pool=left)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so callers spread out."""
        ceiling = self.backoff * 2.0 ** (retry - 1)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request``; answer the plan with the response or the ``httpx.TransportError``."""

    request: httpx.Request


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds`` before the next attempt; answer the plan with ``None``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """The plan's parsed answer."""

    value: T


Step: TypeAlias = "Send | Pause"
Outcome: TypeAlias = "httpx.Response | httpx.TransportError | None"


@dataclass(frozen=True, slots=True)
class _Accepted(Generic[T]):
    value: T


@dataclass(frozen=True, slots=True)
class _Rejected:
    error: WeatherError
    retryable: bool


class Plan(Generic[T]):
    """One upstream call with its retries; :meth:`advance` until it is :class:`Done` (or raises)."""

    def __init__(
        self,
        build: Callable[[httpx.Timeout], httpx.Request],
        parse: Callable[[bytes], T],
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._steps = self._run(build, parse, policy, clock, rng or random.Random())  # noqa: S311 - jitter, not crypto

    @property
    def steps(self) -> Generator[Step, Outcome, T]:
        """The plan as a generator, to ``yield from`` inside a larger flow (the weather lookup's)."""
        return self._steps

    def advance(self, outcome: Outcome) -> Step | Done[T]:
        """The next step, given what the previous one produced (``None`` to start)."""
        try:
            return self._steps.send(outcome)
        except StopIteration as done:
            return Done(done.value)

    @staticmethod
    def _run(
        build: Callable[[httpx.Timeout], httpx.Request],
        parse: Callable[[bytes], T],
        policy: RetryPolicy,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> Generator[Step, Outcome, T]:
        deadline = clock() + policy.total_timeout
        attempt = 0
        while True:
            attempt += 1
            outcome = yield Send(build(policy.timeout_within(deadline - clock())))
            verdict = judge(outcome, parse)
            if isinstance(verdict, _Accepted):
                return verdict.value
            error = verdict.error.after(attempt)
            if not verdict.retryable or attempt > policy.retries:
                raise error
            pause = policy.delay(attempt, rng)
            # Sleeping past the deadline would only end in a timeout: report the real failure now.
            if clock() + pause >= deadline:
                raise error
            yield Pause(pause)


def judge(outcome: Outcome, parse: Callable[[bytes], T]) -> _Accepted[T] | _Rejected:
    """What one attempt's outcome means: the parsed answer, or an error and whether to try again."""
    if outcome is None:
        raise TypeError("a Send step must be answered with a response or a transport error")
    if isinstance(outcome, httpx.TransportError):
        return _transport_failure(outcome)
    status = outcome.status_code
    refusal = _error_body(outcome.content)
    if status == 200 and refusal is None:
        try:
            return _Accepted(parse(outcome.content))
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            reason = f"Open-Meteo answered something unexpected: {where}: {first['msg']}"
            return _Rejected(bad_gateway(reason, 200), retryable=False)
    if refusal is not None:
        reason = refusal.reason or f"Open-Meteo answered {status} without a reason"
    else:
        kind = outcome.headers.get("content-type", "no content type").split(";")[0]
        reason = f"Open-Meteo answered {status} without an error reason ({kind})"
    # A 200 carrying {"error": true} is Open-Meteo failing softly: treated like a 5xx.
    return _Rejected(bad_gateway(reason, status), status in RETRY_STATUSES or status == 200)


def _transport_failure(failure: httpx.TransportError) -> _Rejected:
    retryable = isinstance(failure, RETRY_TRANSPORT)
    name = type(failure).__name__
    if isinstance(failure, httpx.TimeoutException):
        return _Rejected(gateway_timeout(f"Open-Meteo did not answer in time ({name})"), retryable)
    return _Rejected(bad_gateway(f"Cannot reach Open-Meteo ({name}: {failure})"), retryable)


def _error_body(body: bytes) -> UpstreamErrorBody | None:
    try:
        return UpstreamErrorBody.model_validate_json(body)
    except ValidationError:
        return None
