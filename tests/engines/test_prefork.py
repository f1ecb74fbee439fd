"""The pre-fork master, driven in-process with trivial worker targets."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence

import pytest

from webduo.engines.prefork import Master


def crash_on_start(early_signals: Sequence[int]) -> None:
    raise RuntimeError("this worker cannot boot")


def serve_until_stopped(early_signals: Sequence[int]) -> None:
    """Stands in for a worker loop: the master's forwarded stop arrives in ``early_signals``."""
    deadline = time.monotonic() + 60
    while not early_signals and time.monotonic() < deadline:
        time.sleep(0.01)


def test_master_gives_up_and_exits_1_when_workers_keep_dying_on_start_up() -> None:
    master = Master(2, 1.0, crash_on_start, respawn_backoff=0.05, max_quick_deaths=3)
    with pytest.raises(SystemExit) as stopped:
        master.run()
    assert stopped.value.code == 1
    assert master.failed
    assert not master.children


def test_master_forwards_a_stop_signal_and_returns_once_workers_are_gone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    master = Master(2, 5.0, serve_until_stopped)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    master.run()
    timer.join()
    assert not master.children
    assert not master.failed
    assert time.monotonic() - started < 5  # the workers were signalled, not waited out
    assert signal.getsignal(signal.SIGTERM) == before  # the master put the old handler back
