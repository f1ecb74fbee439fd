"""Stress endpoints: I/O-bound, CPU-bound and failing work, written once for both engines.

Each one states its wait as an effect, so the same code blocks a thread in the sync engine
and yields the event loop in the async one — which is exactly the difference the bench measures.
"""

from __future__ import annotations

import time
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from webduo.core.effects import Compute, EndpointResult, Sleep, perform
from webduo.core.http import HTTPError, Request, Response
from webduo.core.primes import count_primes_below
from webduo.core.query import QueryModel, parse_query


MAX_DELAY_MS: Final = 10_000
# ~3.5 s of pure-Python CPU on the reference machine: long enough to hurt, short enough to end.
MAX_PRIMES_BELOW: Final = 2_000_000


class IoTaskQuery(QueryModel):
    delay_ms: int = Field(100, ge=0, le=MAX_DELAY_MS, description="How long to wait, in milliseconds.")


class CpuTaskQuery(QueryModel):
    n: int = Field(100_000, ge=0, le=MAX_PRIMES_BELOW, description="Count the primes below this number.")


class ErrorTaskQuery(QueryModel):
    kind: Literal["exception", "timeout", "bad_gateway"] = Field(
        "exception", description="An unhandled exception (500), an upstream timeout (504) or a bad upstream (502)."
    )


class IoTaskResult(BaseModel):
    """The wait asked for and the wait measured around it."""

    model_config = ConfigDict(frozen=True)

    requested_ms: int = Field(ge=0, le=MAX_DELAY_MS)
    waited_ms: float = Field(ge=0, description="Measured with a monotonic clock, in milliseconds.")


class CpuTaskResult(BaseModel):
    """The count and how long it took."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(ge=0, le=MAX_PRIMES_BELOW)
    primes_below_n: int = Field(ge=0)
    elapsed_ms: float = Field(ge=0, description="Including any wait for a free pool process, in milliseconds.")


def io_task(request: Request) -> EndpointResult:
    """Wait ``delay_ms`` without using CPU, then report the requested and the measured wait."""
    query = parse_query(IoTaskQuery, request)
    started = time.perf_counter()
    yield from perform(Sleep(query.delay_ms / 1000))
    waited_ms = (time.perf_counter() - started) * 1000
    return Response.json(IoTaskResult(requested_ms=query.delay_ms, waited_ms=round(waited_ms, 3)).model_dump())


def cpu_task(request: Request) -> EndpointResult:
    """Count the primes below ``n``; ``elapsed_ms`` includes any wait for a free pool process."""
    query = parse_query(CpuTaskQuery, request)
    started = time.perf_counter()
    count = yield from perform(Compute(count_primes_below, (query.n,)))
    elapsed_ms = (time.perf_counter() - started) * 1000
    result = CpuTaskResult(n=query.n, primes_below_n=count, elapsed_ms=round(elapsed_ms, 3))
    return Response.json(result.model_dump())


class DeliberateError(RuntimeError):
    """What ``/error_task`` raises: a stand-in for a bug, so the 500 path can be watched under load."""


def error_task(request: Request) -> Response:
    """Fail on purpose: 500 by default (traceback to the log only), 504 or 502 with ``?kind=``."""
    query = parse_query(ErrorTaskQuery, request)
    if query.kind == "timeout":
        raise HTTPError(504, "The upstream did not answer in time (simulated by /error_task).")
    if query.kind == "bad_gateway":
        raise HTTPError(502, "The upstream sent an invalid answer (simulated by /error_task).")
    raise DeliberateError("/error_task failed on purpose")
