"""Processes seen through Linux's /proc: who descends from whom, who still runs, who is marked."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar


HAS_PROC = Path("/proc/self/stat").exists()
T = TypeVar("T")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                # The name in parentheses may hold spaces: the fields after its last ')' are fixed.
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return parents


def children(pid: int) -> set[int]:
    return {child for child, parent in _parents().items() if parent == pid}


def descendants(root: int) -> set[int]:
    """Every live process below ``root``."""
    below: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        below.setdefault(parent, []).append(child)
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in below.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie has exited (its adopter just has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "(gone)"


def carrying(variable: str, value: str) -> set[int]:
    """Processes whose environment holds ``variable=value``: what a test session started, however deep."""
    wanted = f"{variable}={value}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
    return found


def survivors(pids: Iterable[int], timeout: float) -> set[int]:
    """Those of ``pids`` still alive once they all exited or ``timeout`` seconds passed."""
    return wait_for(lambda: {pid for pid in pids if alive(pid)}, lambda left: not left, timeout)


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """``probe()`` until ``done`` says its answer will do, or ``timeout`` seconds; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if done(answer) or time.monotonic() >= deadline:
            return answer
        time.sleep(0.1)


def kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
