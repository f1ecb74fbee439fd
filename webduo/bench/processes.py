"""Child processes the bench starts, each in its own process group so all of it can be stopped.

A server may fork workers and a process pool; locust may fork too. Killing only the child we
started would orphan those, so every child leads a new session and is stopped by group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final

import httpx


LOOPBACK: Final = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def start_group(
    command: Sequence[str], log: Path, env: Mapping[str, str], *, append: bool = False, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new process group, its output written to ``log``
    (added after what is there with ``append``, so a restarted child keeps its predecessor's),
    in ``cwd`` (this process's own by default).

    The caller stops it with :func:`stop_group`; :func:`process_group` does so on leaving.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: a pipe nobody drains would block the child once it fills.
    with log.open("ab" if append else "wb") as sink:
        return subprocess.Popen(  # noqa: S603 - fixed arguments from the caller
            list(command), stdout=sink, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True
        )


@contextmanager
def process_group(command: Sequence[str], log: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` as the leader of a new process group, output to ``log``; stop the group on exit."""
    process = start_group(command, log, env)
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the group, give it ``grace`` seconds to stop gracefully, then SIGKILL what is left.

    The leader is reaped only at the very end: until then its zombie keeps the group id ours,
    so the group signals can only ever reach processes this bench started.
    """
    if process.returncode is None:
        signal_group(process.pid, signal.SIGTERM)
        if not wait_for_exit(process, grace):
            signal_group(process.pid, signal.SIGKILL)
            wait_for_exit(process, None)
        # The leader is gone; a forked worker or pool process may linger in its group.
        signal_group(process.pid, signal.SIGKILL)
    process.wait()


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Whether the process exited within ``timeout`` (``None``: wait forever), without reaping it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not has_exited(process):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Like ``poll() is not None`` but leaves the zombie in place (see :func:`stop_group`)."""
    if process.returncode is not None:
        return True
    status = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return status is not None


def signal_group(group: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers below 500; fail with the log's tail if the server dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if has_exited(process):
            raise ServerFailed("server exited before it was ready", log)
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.1)
    raise ServerFailed(f"{url} did not answer within {timeout:.0f} s", log)


class ServerFailed(RuntimeError):
    """A child the bench depends on did not start; carries the tail of its log."""

    def __init__(self, reason: str, log: Path) -> None:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        super().__init__(f"{reason}; last output ({log}):\n{tail}")
