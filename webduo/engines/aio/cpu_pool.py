"""The async engine's process pool for CPU-bound ``Compute`` effects.

This module imports nothing heavy on purpose: every pool process imports it to find its
initializer, and a process still importing when Ctrl-C comes cannot ignore it yet.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Final


# How often a pool process looks for its server: it is gone within this long after the server.
PARENT_CHECK_SECONDS: Final = 0.5


async def start_cpu_pool(size: int) -> ProcessPoolExecutor:
    """A process pool for ``Compute`` with all ``size`` processes already running.

    Processes are spawned, not forked: forking an event-loop process that may already run
    threads (resolver, executors) can copy a held lock into the child. Spawning costs an
    interpreter start per process, so it is paid here, before the server accepts requests,
    rather than by the first ``/cpu_task``: each submit starts a process while none is idle.

    SIGINT is blocked while the processes are spawned, so they start with it blocked (a signal
    mask survives exec) until :func:`init_pool_process` has run; a Ctrl-C meanwhile reaches the
    server once this returns.
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool = ProcessPoolExecutor(
            max_workers=size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_pool_process,
            initargs=(os.getpid(),),
        )
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(os.getpid)) for _ in range(size)))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pool


def init_pool_process(server_pid: int) -> None:
    """Leave Ctrl-C to the server, and exit when the server is gone."""
    ignore_interrupts()
    threading.Thread(target=exit_with, args=(server_pid,), name="parent-watch", daemon=True).start()


def ignore_interrupts() -> None:
    """Pool processes leave Ctrl-C to the server, which shuts the pool down in order.

    The terminal sends SIGINT to the whole process group, pool included: without this every
    pool process printed a KeyboardInterrupt traceback as the server stopped cleanly.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def exit_with(server_pid: int, interval: float = PARENT_CHECK_SECONDS) -> None:
    """End this process once ``server_pid`` is no longer its parent.

    A server that stops in order shuts its pool down. One killed outright (SIGKILL, the OOM
    killer, ``docker kill``) cannot, and its pool processes, adopted by init, would wait on
    their task queue for good: nothing closes it, since each of them holds its write end too.
    Polling the parent's pid works wherever the server died and on every POSIX system; Linux's
    PR_SET_PDEATHSIG would be immediate, but it fires when the *thread* that spawned the process
    ends, not the server. The server's pid is passed in, not read here: read here it would
    already be init's if the server died while this process was starting.
    """
    while os.getppid() == server_pid:
        time.sleep(interval)
    # Nobody is left to want the result of the task at hand, if any: no clean-up to wait for.
    os._exit(1)
