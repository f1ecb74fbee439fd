"""What each engine process opens at startup and closes at shutdown, gathered in a Runtime.

Effects find their clients and pools here by type. The sync engine enters
:func:`sync_services` once per worker process; the async engine enters
:func:`async_services` from aiohttp's ``cleanup_ctx``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager

from webduo.core.cpu_pool import start_cpu_pool
from webduo.core.effects import Runtime
from webduo.core.weather.client import AsyncWeatherClient, WeatherClient
from webduo.settings import Settings


@contextmanager
def sync_services(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime()
    with ExitStack() as stack:
        runtime.provide(WeatherClient, stack.enter_context(WeatherClient(settings)))
        yield runtime


@asynccontextmanager
async def async_services(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime()
    async with AsyncExitStack() as stack:
        pool = await start_cpu_pool(settings.cpu_pool_size)
        # Queued CPU tasks are dropped at exit: their clients are gone once the server stops.
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        runtime.provide(Executor, pool)
        runtime.provide(AsyncWeatherClient, await stack.enter_async_context(AsyncWeatherClient(settings)))
        yield runtime
