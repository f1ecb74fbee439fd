"""Endpoints written once, run by a blocking engine and by an event loop.

An endpoint that has to wait (sleep, call an upstream, burn CPU) does not wait itself: it
*yields* an :class:`Effect` describing the wait and receives the result back, like a sans-IO
protocol object. Each engine drives the generator with its own driver — :func:`drive_sync`
performs effects by blocking, :func:`drive_async` by awaiting — so validation, shaping and
error mapping live in the endpoint alone and only the waiting differs::

    def io_task(request: Request) -> EndpointResult:
        params = IoTaskQuery.from_request(request)
        yield from perform(Sleep(params.delay_ms / 1000))
        return Response.json({"waited_ms": params.delay_ms})
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar, cast

from webduo.core.http import Request, Response


T = TypeVar("T")


class Runtime:
    """What one engine process gives effects to work with: clients, pools, ... keyed by type.

    Each engine registers its own implementations at startup (a blocking weather client in the
    sync engine, an async one and a process pool in aiohttp); effects look them up by type.
    """

    def __init__(self) -> None:
        self._services: dict[type[Any], Any] = {}

    def provide(self, kind: type[T], service: T) -> None:
        self._services[kind] = service

    def get(self, kind: type[T]) -> T:
        try:
            return cast(T, self._services[kind])
        except KeyError:
            raise LookupError(f"this engine provides no {kind.__name__}") from None


class Effect(Generic[T]):
    """A wait an endpoint asks its engine to perform; the engine sends back a ``T``."""

    def run_sync(self, runtime: Runtime) -> T:
        raise NotImplementedError

    async def run_async(self, runtime: Runtime) -> T:
        raise NotImplementedError


EndpointResult: TypeAlias = Generator[Effect[Any], Any, Response]
"""What an endpoint returns: a generator of effects that finally returns the response."""

Endpoint: TypeAlias = Callable[[Request], EndpointResult | Response]
"""An endpoint: a plain function for work without waits, a generator function otherwise."""


def perform(effect: Effect[T]) -> Generator[Effect[Any], Any, T]:
    """``result = yield from perform(effect)``: yield ``effect`` and get its result, typed."""
    result = yield effect
    return cast(T, result)


def resume(endpoint: EndpointResult, outcome: Any = None, failure: Exception | None = None) -> Effect[Any] | Response:
    """Hand the endpoint its last effect's result (or failure); get its next effect or its response.

    The one step both drivers share: they differ only in how they perform the effect between.
    """
    try:
        return endpoint.send(outcome) if failure is None else endpoint.throw(failure)
    except StopIteration as done:
        return cast(Response, done.value)


def drive_sync(endpoint: EndpointResult, step: Effect[Any] | Response, runtime: Runtime) -> Response:
    """Drive a started endpoint from ``step`` (its first effect) to its response, by blocking."""
    while not isinstance(step, Response):
        try:
            outcome = step.run_sync(runtime)
        except Exception as exc:
            step = resume(endpoint, failure=exc)
        else:
            step = resume(endpoint, outcome)
    return step


async def drive_async(endpoint: EndpointResult, step: Effect[Any] | Response, runtime: Runtime) -> Response:
    """Drive a started endpoint from ``step`` (its first effect) to its response, by awaiting."""
    while not isinstance(step, Response):
        try:
            outcome = await step.run_async(runtime)
        except Exception as exc:
            step = resume(endpoint, failure=exc)
        else:
            step = resume(endpoint, outcome)
    return step


@dataclass(frozen=True, slots=True)
class Sleep(Effect[None]):
    """Wait ``seconds``: a blocking sleep in the sync engine, ``asyncio.sleep`` on the loop."""

    seconds: float

    def run_sync(self, runtime: Runtime) -> None:
        time.sleep(self.seconds)

    async def run_async(self, runtime: Runtime) -> None:
        await asyncio.sleep(self.seconds)


@dataclass(frozen=True, slots=True)
class Compute(Effect[T]):
    """CPU-bound ``function(*args)``: inline in the sync engine (its worker is busy anyway),
    in the runtime's :class:`~concurrent.futures.Executor` on the loop so it keeps serving.

    ``function`` must be a picklable module-level function when the executor is a process pool.
    """

    function: Callable[..., T]
    args: tuple[Any, ...] = field(default=())

    def run_sync(self, runtime: Runtime) -> T:
        return self.function(*self.args)

    async def run_async(self, runtime: Runtime) -> T:
        executor = runtime.get(Executor)
        return await asyncio.get_running_loop().run_in_executor(executor, self.function, *self.args)
