"""What an event-loop process opens at startup and closes at shutdown, gathered in a Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import AsyncExitStack, asynccontextmanager

from webduo.core.effects import Runtime
from webduo.core.metrics import process_metrics
from webduo.core.weather.client import AsyncWeatherClient
from webduo.core.weather.shared_cache import connect_async
from webduo.engines.aio.cpu_pool import start_cpu_pool
from webduo.settings import Settings


@asynccontextmanager
async def async_services(settings: Settings) -> AsyncIterator[Runtime]:
    """A process pool for ``Compute`` effects (the loop must not burn CPU) and an async weather client
    (with an asyncio Redis client when ``cache_url`` names one)."""
    runtime = Runtime()
    async with AsyncExitStack() as stack:
        pool = await start_cpu_pool(settings.cpu_pool_size)
        # Queued CPU tasks are dropped at exit: their clients are gone once the server stops.
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        runtime.provide(Executor, pool)
        redis = await stack.enter_async_context(connect_async(settings.cache_url)) if settings.cache_url else None
        client = AsyncWeatherClient(settings, metrics=process_metrics(), redis=redis)
        runtime.provide(AsyncWeatherClient, await stack.enter_async_context(client))
        yield runtime
