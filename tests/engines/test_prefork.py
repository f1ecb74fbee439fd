"""The pre-fork master, driven in-process with trivial worker targets."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from webduo.engines.errors import StartupError
from webduo.engines.prefork import Master, Target


def crash_on_start(early_signals: Sequence[int]) -> None:
    raise RuntimeError("this worker cannot boot")


def serve_until_stopped(early_signals: Sequence[int]) -> None:
    """Stands in for a worker loop: the master's forwarded stop arrives in ``early_signals``."""
    deadline = time.monotonic() + 60
    while not early_signals and time.monotonic() < deadline:
        time.sleep(0.01)


def test_master_gives_up_and_exits_1_when_workers_keep_dying_on_start_up() -> None:
    # A death counts as quick only within respawn_backoff of the fork. At 0.05 s a loaded machine (or
    # a big pytest-xdist worker to fork) made deaths slow enough to reset the count: the master then
    # respawned until the test's timeout.
    master = Master.pool(2, 1.0, crash_on_start, respawn_backoff=0.5, max_quick_deaths=3)
    with pytest.raises(SystemExit) as stopped:
        master.run()
    assert stopped.value.code == 1
    assert master.failed
    assert not master.children


def test_master_forwards_a_stop_signal_and_returns_once_workers_are_gone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    master = Master.pool(2, 5.0, serve_until_stopped)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    master.run()
    timer.join()
    assert not master.children
    assert not master.failed
    assert time.monotonic() - started < 5  # the workers were signalled, not waited out
    assert signal.getsignal(signal.SIGTERM) == before  # the master put the old handler back


def cannot_listen(early_signals: Sequence[int]) -> None:
    raise StartupError("cannot listen on 127.0.0.1:1: Permission denied")


def started_in(log: Path, target: Target) -> Target:
    """``target``, noting each start in ``log``: a child's start is seen from the test's process."""

    def run(early_signals: Sequence[int]) -> None:
        with log.open("a") as notes:
            notes.write("started\n")
        target(early_signals)

    return run


@pytest.mark.parametrize(
    ("target", "how"),
    [
        (cannot_listen, "exited with 1 (cannot listen on 127.0.0.1:1: Permission denied)"),
        (crash_on_start, "exited with 1 (RuntimeError: this worker cannot boot)"),
        (lambda early: sys.exit("no config"), "exited with 1 (no config)"),
        (lambda early: None, "exited with 0"),
    ],
    ids=["startup-error", "crash", "sys.exit", "returned"],
)
def test_a_supervised_child_that_ends_stops_the_others_and_fails(
    target: Target, how: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starts = tmp_path / "starts"
    master = Master.supervising({"first": started_in(starts, target), "second": serve_until_stopped}, 5.0)
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        master.run()
    assert stopped.value.code == 1
    assert not master.children
    assert time.monotonic() - started < 5  # the second was signalled, not waited out
    assert starts.read_text() == "started\n"  # never respawned
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [f"first {how}; stopping the second"]


def test_a_supervised_set_stops_on_a_signal_and_returns() -> None:
    master = Master.supervising({"first": serve_until_stopped, "second": serve_until_stopped}, 5.0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    master.run()
    timer.join()
    assert not master.children
    assert not master.failed


def test_a_supervised_set_stopped_before_it_starts_starts_nothing(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    master = Master.supervising({"only": started_in(starts, serve_until_stopped)}, 5.0)
    master.run(early_signals=[signal.SIGTERM])
    assert not starts.exists()
    assert not master.failed
