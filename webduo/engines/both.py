"""``webduo serve --mode both``: each engine in a child of one supervising :class:`Master`.

The two engines are one service to whoever started the command: if either cannot start or
ends, the master stops the other gracefully and the command exits 1, with one line saying
which engine ended and why — rather than half of the service serving on. Ctrl-C and SIGTERM
reach both engines through the master, which returns once both are gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Final

from webduo.engines.logs import configure_logging
from webduo.engines.prefork import KILL_MARGIN, Master
from webduo.settings import Settings


# The tag of the supervisor's own log lines, next to the engines' [sync] and [async].
LOG_TAG: Final = "supervisor"


def serve(settings: Settings, early_signals: Sequence[int] = ()) -> None:
    """Run both engines until a stop signal; ``SystemExit(1)`` once either ended by itself.

    ``early_signals`` are stop signals caught before this call: with one, no engine starts.
    """
    configure_logging(settings.log_level, LOG_TAG)
    children = {"sync engine": partial(_sync, settings), "async engine": partial(_async, settings)}
    # An engine with --workers N is a master itself and kills its own workers KILL_MARGIN after
    # the grace period: this one waits as long again, so it does not kill that master first and
    # orphan its workers.
    Master.supervising(children, settings.graceful_timeout + KILL_MARGIN).run(early_signals)


# Each engine is imported in its own child only: the sync engine never loads aiohttp. Neither
# needs the early signals passed in: its serve() takes them over through record_stop_signals().


def _sync(settings: Settings, _early_signals: Sequence[int]) -> None:
    from webduo.engines.sync.server import serve as serve_sync

    serve_sync(settings)


def _async(settings: Settings, _early_signals: Sequence[int]) -> None:
    from webduo.engines.aio.server import serve as serve_async

    serve_async(settings)
