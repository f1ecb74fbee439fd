"""The async engine's process pool for CPU-bound ``Compute`` effects.

This module imports nothing heavy on purpose: every pool process imports it to find its
initializer, and a process still importing when Ctrl-C comes cannot ignore it yet.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor


async def start_cpu_pool(size: int) -> ProcessPoolExecutor:
    """A process pool for ``Compute`` with all ``size`` processes already running.

    Processes are spawned, not forked: forking an event-loop process that may already run
    threads (resolver, executors) can copy a held lock into the child. Spawning costs an
    interpreter start per process, so it is paid here, before the server accepts requests,
    rather than by the first ``/cpu_task``: each submit starts a process while none is idle.

    SIGINT is blocked while the processes are spawned, so they start with it blocked (a signal
    mask survives exec) until :func:`ignore_interrupts` has run; a Ctrl-C meanwhile reaches the
    server once this returns.
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool = ProcessPoolExecutor(
            max_workers=size, mp_context=multiprocessing.get_context("spawn"), initializer=ignore_interrupts
        )
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(os.getpid)) for _ in range(size)))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pool


def ignore_interrupts() -> None:
    """Pool processes leave Ctrl-C to the server, which shuts the pool down in order.

    The terminal sends SIGINT to the whole process group, pool included: without this every
    pool process printed a KeyboardInterrupt traceback as the server stopped cleanly.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
