"""What a sync worker process opens at startup and closes at shutdown, gathered in a Runtime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from webduo.core.effects import Runtime
from webduo.core.metrics import process_metrics
from webduo.core.weather.client import WeatherClient
from webduo.core.weather.shared_cache import connect
from webduo.settings import Settings


@contextmanager
def sync_services(settings: Settings) -> Iterator[Runtime]:
    """Entered once per worker, after fork: a blocking weather client with its own connection pools
    (Open-Meteo's, and the shared cache's when ``cache_url`` names one)."""
    runtime = Runtime()
    with ExitStack() as stack:
        redis = stack.enter_context(connect(settings.cache_url)) if settings.cache_url else None
        client = WeatherClient(settings, metrics=process_metrics(), redis=redis)
        runtime.provide(WeatherClient, stack.enter_context(client))
        yield runtime
