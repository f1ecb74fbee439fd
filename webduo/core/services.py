"""What each engine process opens at startup and closes at shutdown, gathered in a Runtime.

Effects find their clients and pools here by type. The sync engine enters
:func:`sync_services` once per worker process; the async engine enters
:func:`async_services` from aiohttp's ``cleanup_ctx``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager

from webduo.core.effects import Runtime
from webduo.settings import Settings


@contextmanager
def sync_services(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime()
    with ExitStack():
        yield runtime


@asynccontextmanager
async def async_services(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime()
    async with AsyncExitStack():
        yield runtime
