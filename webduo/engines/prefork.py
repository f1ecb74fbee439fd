"""The pre-fork master: child processes it forks, reaps, signals and, as its policy says, replaces.

The master serves nothing itself. It has two policies:

- a pool (``--workers N``): N copies of one target on an inherited listening socket; any that
  dies is respawned, and workers that keep dying on start-up make it give up;
- a fixed set of named children (``--mode both``: one per engine), none respawned: as soon as
  one ends, the master stops the others and fails, since half of a set is not what was asked
  for. It says which child ended and why, in one line, with the reason the child sent up.

Either way it forwards SIGTERM (graceful) and SIGINT (quick) to the children and returns when
all have finished. A child that outlives the grace period by a margin is killed: a stop must
always end. A master that is itself killed (SIGKILL, the OOM killer) forwards nothing, so its
children ask the kernel for a SIGTERM when their parent dies: they stop gracefully rather than
serve on as orphans nobody will stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Final

from webduo.engines.errors import StartupError


logger = logging.getLogger("webduo.master")

# A worker that dies sooner than this after its start is crashing on start-up: wait this long
# before the next attempt instead of fork-looping.
RESPAWN_BACKOFF: Final = 1.0
# Start-up crashes in a row after which the master stops trying and exits 1: a worker that
# cannot boot (bad settings, a service that will not open) will not boot on the tenth try either.
MAX_QUICK_DEATHS: Final = 5
# Grace on top of graceful_timeout before SIGKILL: workers enforce the timeout themselves.
KILL_MARGIN: Final = 5.0
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
# A child's last words fit in one atomic pipe write (PIPE_BUF is at least 4096 bytes on Linux),
# so reasons from children ending at once never interleave: 1000 characters are at most 4000 bytes.
_REASON_CHARS: Final = 1000
# prctl(2) option: the signal this process gets when its parent dies (Linux only).
_PR_SET_PDEATHSIG: Final = 1

Target = Callable[[Sequence[int]], None]
"""What a child runs; it gets the stop signals that arrived before its loop could take them."""


@dataclass(frozen=True)
class _Child:
    name: str
    started: float


class Master:
    """Keeps one child process per named slot until told to stop; :meth:`pool` or :meth:`supervising`.

    With ``respawn``, a slot whose child died gets a new one (a pool); without, the first child
    to end stops them all (a fixed set).
    """

    def __init__(
        self,
        slots: Mapping[str, Target],
        graceful_timeout: float,
        *,
        respawn: bool,
        respawn_backoff: float = RESPAWN_BACKOFF,
        max_quick_deaths: int = MAX_QUICK_DEATHS,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        """``on_exit(pid)`` is called for every child reaped, whether it died or was stopped."""
        self.slots = dict(slots)
        self.graceful_timeout = graceful_timeout
        self.respawn = respawn
        self.respawn_backoff = respawn_backoff
        self.max_quick_deaths = max_quick_deaths
        self.on_exit = on_exit
        self.failed = False
        self._quick_deaths = 0
        self._started: set[str] = set()
        self.children: dict[int, _Child] = {}
        self._received: list[int] = []
        self._forwarded: set[int] = set()
        self._kill_at: float | None = None
        self._respawn_at = 0.0
        self._reasons = b""

    @classmethod
    def pool(
        cls,
        workers: int,
        graceful_timeout: float,
        target: Target,
        *,
        respawn_backoff: float = RESPAWN_BACKOFF,
        max_quick_deaths: int = MAX_QUICK_DEATHS,
        on_exit: Callable[[int], None] | None = None,
    ) -> Master:
        """``workers`` copies of ``target``, each respawned when it dies (``--workers N``)."""
        slots = {f"worker {number}": target for number in range(1, workers + 1)}
        return cls(
            slots,
            graceful_timeout,
            respawn=True,
            respawn_backoff=respawn_backoff,
            max_quick_deaths=max_quick_deaths,
            on_exit=on_exit,
        )

    @classmethod
    def supervising(cls, children: Mapping[str, Target], graceful_timeout: float) -> Master:
        """One child per entry, started in order and never respawned (``--mode both``).

        When one ends before a stop signal, whatever its exit code, the master logs its name
        and the reason, stops the others gracefully and fails (``SystemExit(1)`` from :meth:`run`).
        """
        return cls(children, graceful_timeout, respawn=False)

    def run(self, early_signals: Sequence[int] = ()) -> None:
        """Block until a stop signal and every child's exit.

        ``early_signals`` arrived before the master took the handlers over; they count as if now.
        Raises ``SystemExit(1)`` after stopping the rest when workers keep dying on start-up,
        or when a child of a fixed set ended or did not stop cleanly.
        """
        wake_r, wake_w = os.pipe()
        reasons_r, reasons_w = os.pipe()
        for fd in (wake_r, wake_w, reasons_r):
            os.set_blocking(fd, False)
        pipes = (wake_r, wake_w, reasons_r, reasons_w)
        previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (*_STOP_SIGNALS, signal.SIGCHLD)}
        self._received.extend(early_signals)
        try:
            while True:
                self._reap(reasons_r)
                if self._received:
                    self._forward()
                    if not self.children:
                        if self.failed:
                            raise SystemExit(1)
                        return
                    if self._kill_at is not None and time.monotonic() >= self._kill_at:
                        self._kill_all()
                else:
                    self._fill(pipes)
                select.select([wake_r], [], [], 0.5)
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in pipes:
                os.close(fd)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum in _STOP_SIGNALS:
            self._received.append(signum)

    def _next(self) -> tuple[str, Target] | None:
        """The slot to start a child for now, if any."""
        running = {child.name for child in self.children.values()}
        for name, target in self.slots.items():
            if name not in running and (self.respawn or name not in self._started):
                return name, target
        return None

    def _fill(self, pipes: tuple[int, int, int, int]) -> None:
        now = time.monotonic()
        while now >= self._respawn_at and (start := self._next()) is not None:
            name, target = start
            # Output still buffered here would be written once more by the child.
            sys.stdout.flush()
            sys.stderr.flush()
            # Stop signals stay blocked across fork until the child has its own handler: one
            # forwarded in that window would otherwise hit the master's inherited handler in
            # the child and be lost, leaving a worker that never stops.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                pid = os.fork()
            except OSError as exc:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                self._cannot_fork(name, exc, now)
                return
            if pid == 0:
                self._become_child(target, pipes, mask)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            self.children[pid] = _Child(name, now)
            self._started.add(name)

    def _cannot_fork(self, name: str, exc: OSError, now: float) -> None:
        if self.respawn:  # EAGAIN/ENOMEM: keep the workers we have, try again later
            logger.error("cannot start a worker: %s", exc)
            self._respawn_at = now + self.respawn_backoff
            return
        self._fail(f"cannot start the {name}: {exc}")

    def _become_child(self, target: Target, pipes: tuple[int, int, int, int], mask: set[int | signal.Signals]) -> None:
        """In the child: drop the master's signal plumbing, run, and never return into its code.

        Why it ended goes up the reasons pipe, for the master's report of a fixed set.
        """
        wake_r, wake_w, reasons_r, reasons_w = pipes
        code, reason = 0, ""
        master = os.getppid()
        try:
            signal.set_wakeup_fd(-1)
            for fd in (wake_r, wake_w, reasons_r):
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            early_signals = record_stop_signals()
            stop_with_parent(master)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            target(early_signals)
        except StartupError as exc:
            code, reason = 1, str(exc)
        except SystemExit as exc:  # a nested master that gave up, or sys.exit(): its code, no traceback
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("why"): Python's own way to exit 1 with a reason
                code, reason = 1, str(exc.code)
        except BaseException as exc:
            traceback.print_exc()
            code, reason = 1, f"{type(exc).__name__}: {exc}"
        finally:
            # Nothing may keep the child from os._exit: returning would run the master's code in it.
            with contextlib.suppress(OSError, ValueError):
                if reason:
                    line = f"{os.getpid()} {' '.join(reason.split())}"[:_REASON_CHARS] + "\n"
                    os.write(reasons_w, line.encode(errors="replace"))
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _reap(self, reasons_r: int) -> None:
        ended: list[tuple[int, _Child, int]] = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                break
            if pid == 0:
                break
            child = self.children.pop(pid, None)
            if child is not None:
                self._exited(pid)
                ended.append((pid, child, os.waitstatus_to_exitcode(status)))
        if not ended:
            return
        reasons = self._read_reasons(reasons_r)
        # Reaped all first, so a report names as still running only the children that are.
        for pid, child, code in ended:
            if not self.respawn:
                self._member_ended(child, code, reasons.get(pid, ""))
            elif not self._received:
                self._worker_died(pid, code, child.started)

    def _exited(self, pid: int) -> None:
        if self.on_exit is None:
            return
        try:
            self.on_exit(pid)
        except Exception:  # bookkeeping must not bring the master, and every worker, down
            logger.exception("cleaning up after child %d failed", pid)

    def _read_reasons(self, reasons_r: int) -> dict[int, str]:
        """``pid -> reason`` for every whole line children wrote up the pipe so far."""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(reasons_r, 65536):
                self._reasons += chunk
        *lines, self._reasons = self._reasons.split(b"\n")
        reasons: dict[int, str] = {}
        for line in lines:
            pid, _, reason = line.decode(errors="replace").partition(" ")
            if pid.isdigit():
                reasons[int(pid)] = reason
        return reasons

    def _member_ended(self, child: _Child, code: int, reason: str) -> None:
        how = _how_it_ended(code, reason)
        if not self._received:
            others = ", ".join(f"the {other.name}" for other in self.children.values())
            self._fail(f"{child.name} {how}" + (f"; stopping {others}" if others else ""))
        elif code != 0 and -code not in self._forwarded:
            # Asked to stop, it failed to, or was killed for outliving the grace period.
            self.failed = True
            logger.error("%s %s while stopping", child.name, how)

    def _fail(self, message: str) -> None:
        """Log ``message`` and stop every child, as an operator's SIGTERM would; ``run`` then fails."""
        logger.error("%s", message)
        self.failed = True
        self._received.append(signal.SIGTERM)

    def _worker_died(self, pid: int, code: int, started: float) -> None:
        now = time.monotonic()
        if now - started >= self.respawn_backoff:
            self._quick_deaths = 0
            logger.warning("worker %d exited (%d); starting a new one", pid, code)
            return
        self._quick_deaths += 1
        if self._quick_deaths >= self.max_quick_deaths:
            self._fail(f"workers keep dying on start-up ({self._quick_deaths} in a row); giving up")
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
        for pid, child in list(self.children.items()):
            logger.error("%s (pid %d) outlived the grace period; killing it", child.name, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _how_it_ended(code: int, reason: str) -> str:
    """``exited with 1 (cannot listen on ...)``, or ``was killed by SIGKILL``, from a child's exit code."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with {code}" + (f" ({reason})" if reason else "")


class StopSignalRecorder:
    """A SIGTERM/SIGINT handler that only remembers, until a serving loop takes over and replays."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)


def stop_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM when ``parent`` dies (Linux; elsewhere nothing).

    Call it with the stop signals' handlers in place: a SIGTERM that comes is then a stop signal
    like any other. A parent that died before the request was made sends nothing, so that case
    is checked for after it, and answered with the same signal.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        logger.warning("cannot ask to be stopped with the master: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


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


def run_pool(
    workers: int,
    graceful_timeout: float,
    metrics_dir: str | None,
    worker: Callable[[Sequence[int], int], None],
    early_signals: Sequence[int],
) -> None:
    """``--workers N`` for either engine: ``worker(early_signals, master_pid)`` N times, respawned,
    their metrics summed in a folder that lives as long as this master."""
    from webduo.core.metrics import flush_process_metrics
    from webduo.engines.worker_metrics import worker_metrics

    master_pid = os.getpid()

    def run_worker(early: Sequence[int]) -> None:
        try:
            worker(early, master_pid)
        finally:
            # Requests are counted in batches: the last ones reach the folder now or never.
            flush_process_metrics()

    with worker_metrics(metrics_dir) as worker_exited:
        Master.pool(workers, graceful_timeout, run_worker, on_exit=worker_exited).run(early_signals)
