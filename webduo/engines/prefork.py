"""The pre-fork master: N worker processes on one inherited listening socket.

The master serves nothing itself. It forks the workers, respawns any that dies, and forwards
SIGTERM (graceful) and SIGINT (quick) to them; when all have finished it returns. A worker
that outlives the grace period by a margin is killed: a stop must always end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Final


logger = logging.getLogger("webduo.sync.master")

# A worker that dies sooner than this after its start is crashing on start-up: wait this long
# before the next attempt instead of fork-looping.
RESPAWN_BACKOFF: Final = 1.0
# Start-up crashes in a row after which the master stops trying and exits 1: a worker that
# cannot boot (bad settings, a service that will not open) will not boot on the tenth try either.
MAX_QUICK_DEATHS: Final = 5
# Grace on top of graceful_timeout before SIGKILL: workers enforce the timeout themselves.
KILL_MARGIN: Final = 5.0
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


class Master:
    """Keeps ``workers`` copies of ``target`` running in child processes until told to stop."""

    def __init__(
        self,
        workers: int,
        graceful_timeout: float,
        target: Callable[[Sequence[int]], None],
        *,
        respawn_backoff: float = RESPAWN_BACKOFF,
        max_quick_deaths: int = MAX_QUICK_DEATHS,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        """``on_exit(pid)`` is called for every worker reaped, whether it died or was stopped."""
        self.size = workers
        self.graceful_timeout = graceful_timeout
        self.target = target
        self.respawn_backoff = respawn_backoff
        self.max_quick_deaths = max_quick_deaths
        self.on_exit = on_exit
        self.failed = False
        self._quick_deaths = 0
        self.children: dict[int, float] = {}  # pid -> start time
        self._received: list[int] = []
        self._forwarded: set[int] = set()
        self._kill_at: float | None = None
        self._respawn_at = 0.0

    def run(self, early_signals: Sequence[int] = ()) -> None:
        """Block until a stop signal and every worker's exit.

        ``early_signals`` arrived before the master took the handlers over; they count as if now.
        Raises ``SystemExit(1)`` after stopping the rest when workers keep dying on start-up.
        """
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (*_STOP_SIGNALS, signal.SIGCHLD)}
        self._received.extend(early_signals)
        try:
            while True:
                self._reap()
                if self._received:
                    self._forward()
                    if not self.children:
                        if self.failed:
                            raise SystemExit(1)
                        return
                    if self._kill_at is not None and time.monotonic() >= self._kill_at:
                        self._kill_all()
                else:
                    self._fill(wake_r, wake_w)
                select.select([wake_r], [], [], 0.5)
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum in _STOP_SIGNALS:
            self._received.append(signum)

    def _fill(self, wake_r: int, wake_w: int) -> None:
        now = time.monotonic()
        while len(self.children) < self.size and now >= self._respawn_at:
            # Stop signals stay blocked across fork until the child has its own handler: one
            # forwarded in that window would otherwise hit the master's inherited handler in
            # the child and be lost, leaving a worker that never stops.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                pid = os.fork()
            except OSError as exc:  # EAGAIN/ENOMEM: keep the workers we have, try again later
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                logger.error("cannot start a worker: %s", exc)
                self._respawn_at = now + self.respawn_backoff
                return
            if pid == 0:
                self._become_worker(wake_r, wake_w, mask)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            self.children[pid] = now

    def _become_worker(self, wake_r: int, wake_w: int, mask: set[int | signal.Signals]) -> None:
        """In the child: drop the master's signal plumbing, serve, and never return into its code."""
        code = 0
        try:
            signal.set_wakeup_fd(-1)
            os.close(wake_r)
            os.close(wake_w)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            early_signals = record_stop_signals()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            self.target(early_signals)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            started = self.children.pop(pid, None)
            if started is None:
                continue
            self._exited(pid)
            if not self._received:
                self._worker_died(pid, os.waitstatus_to_exitcode(status), started)

    def _exited(self, pid: int) -> None:
        if self.on_exit is None:
            return
        try:
            self.on_exit(pid)
        except Exception:  # bookkeeping must not bring the master, and every worker, down
            logger.exception("cleaning up after worker %d failed", pid)

    def _worker_died(self, pid: int, code: int, started: float) -> None:
        now = time.monotonic()
        if now - started >= self.respawn_backoff:
            self._quick_deaths = 0
            logger.warning("worker %d exited (%d); starting a new one", pid, code)
            return
        self._quick_deaths += 1
        if self._quick_deaths >= self.max_quick_deaths:
            logger.error("workers keep dying on start-up (%d in a row); giving up", self._quick_deaths)
            self.failed = True
            self._received.append(signal.SIGTERM)  # stop the others like an operator would
            return
        logger.warning("worker %d died on start-up (%d); retrying in %g s", pid, code, self.respawn_backoff)
        self._respawn_at = now + self.respawn_backoff

    def _forward(self) -> None:
        for signum in self._received:
            if signum in self._forwarded:
                continue
            self._forwarded.add(signum)
            if self._kill_at is None:
                self._kill_at = time.monotonic() + self.graceful_timeout + KILL_MARGIN
            for pid in self.children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def _kill_all(self) -> None:
        self._kill_at = float("inf")
        for pid in list(self.children):
            logger.error("worker %d outlived the grace period; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class StopSignalRecorder:
    """A SIGTERM/SIGINT handler that only remembers, until a serving loop takes over and replays."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)


def record_stop_signals() -> list[int]:
    """Record SIGTERM/SIGINT from before a worker or master installs its own handlers.

    A supervisor may signal (and a client may see the port open) before the loop runs; without
    this such a signal would kill the process with the default action instead of stopping it —
    or, as PID 1 in a container, be dropped by the kernel. The ``serve`` command starts recording
    before its slow imports; later calls in the same process keep that recording and its list.
    """
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, StopSignalRecorder):
        return current.received
    recorder = StopSignalRecorder()
    for signum in _STOP_SIGNALS:
        signal.signal(signum, recorder)
    return recorder.received
