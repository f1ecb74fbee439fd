"""What a sync worker process opens at startup and closes at shutdown, gathered in a Runtime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from webduo.core.effects import Runtime
from webduo.core.metrics import process_metrics
from webduo.core.weather.client import WeatherClient
from webduo.settings import Settings


@contextmanager
def sync_services(settings: Settings) -> Iterator[Runtime]:
    """Entered once per worker, after fork: a blocking weather client with its own connection pool."""
    runtime = Runtime()
    with ExitStack() as stack:
        client = WeatherClient(settings, metrics=process_metrics())
        runtime.provide(WeatherClient, stack.enter_context(client))
        yield runtime
