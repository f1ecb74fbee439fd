"""Where a pre-forked server's workers keep their metrics: a fresh folder per run, gone after it.

prometheus-client's multiprocess mode has each process write its values to files in
``PROMETHEUS_MULTIPROC_DIR``, and ``/metrics`` sums the files of every process there. A folder
left from an earlier run would add that run's counts to this one's, so the master makes a new
one before forking, and removes it once the last worker has exited.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from webduo.core.metrics import MULTIPROCESS_VARIABLE


logger = logging.getLogger("webduo.metrics")


@contextmanager
def worker_metrics(parent: str | None) -> Iterator[Callable[[int], None]]:
    """Around a master's run: a fresh folder in ``parent`` (default: the system's temporary
    directory) that the workers inherit through the environment. Yields what the master calls
    with the pid of each worker that exits.

    Raises ``SystemExit(1)``, with the reason logged, when the folder cannot be made.
    """
    try:
        path = tempfile.mkdtemp(prefix="webduo-metrics-", dir=parent)
    except OSError as exc:
        where = parent or tempfile.gettempdir()
        logger.error("cannot make a folder for the workers' metrics in %s: %s", where, exc.strerror or exc)
        raise SystemExit(1) from None
    previous = os.environ.get(MULTIPROCESS_VARIABLE)
    os.environ[MULTIPROCESS_VARIABLE] = path
    try:
        yield lambda pid: worker_exited(path, pid)
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_VARIABLE] = previous
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(path: str, pid: int) -> None:
    """Drop a dead worker's in-flight gauge; its counters stay, so totals never go backwards."""
    # Imported here, after the variable is set: this process forks more workers after it.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)
