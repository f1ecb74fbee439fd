"""``webduo serve --mode both`` as a supervisor: real processes, real ports, real signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.processes import HAS_PROC, descendants, survivors
from tests.servers import ENGINES, HOST, stop, wait_for_port
from webduo.bench.processes import free_port


pytestmark = pytest.mark.skipif(not HAS_PROC, reason="needs Linux /proc")

# Long enough for two engines to boot on a busy 2-core machine; a supervisor that hangs fails here.
EXIT_WITHIN_SECONDS = 15.0


def other(engine: str) -> str:
    return "async" if engine == "sync" else "sync"


@contextmanager
def serve_both(log: Path, ports: dict[str, int]) -> Iterator[subprocess.Popen[bytes]]:
    """``webduo serve --mode both`` in its own process group, as a terminal runs it.

    Whatever the test does, the supervisor is stopped and then its whole group killed, so an
    engine it failed to stop cannot outlive the test.
    """
    env = {**os.environ, "WEBDUO_SYNC_PORT": str(ports["sync"]), "WEBDUO_ASYNC_PORT": str(ports["async"])}
    command = [sys.executable, "-m", "webduo", "serve", "--mode", "both", "--host", HOST]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield process
    finally:
        stop(process)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def serving(log: Path, process: subprocess.Popen[bytes], ports: dict[str, int]) -> dict[str, int]:
    """Wait until both engines answer; each engine's pid, read from its banner."""
    for port in ports.values():
        wait_for_port(port, process)
    banners = re.findall(r"— (a?sync) engine.*?pid (\d+)", log.read_text(), flags=re.DOTALL)
    pids = {engine: int(pid) for engine, pid in banners}
    assert set(pids) == set(ENGINES), log.read_text()
    return pids


def refused(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def error_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if "ERROR" in line or "error:" in line]


@pytest.mark.parametrize("taken", ENGINES)
def test_a_taken_port_stops_the_other_engine_and_exits_1(taken: str, tmp_path: Path) -> None:
    log = tmp_path / "log"
    with socket.create_server((HOST, 0)) as blocker:
        ports = {taken: blocker.getsockname()[1], other(taken): free_port()}
        with serve_both(log, ports) as process:
            code = process.wait(EXIT_WITHIN_SECONDS)
    assert code == 1, log.read_text()
    [line] = error_lines(log)
    why = rf"cannot listen on {HOST}:{ports[taken]}: .+"
    expected = rf"\b{taken} engine exited with 1 \({why}\); stopping the {other(taken)} engine$"
    assert re.search(expected, line), line
    assert refused(ports[other(taken)])
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("victim", ENGINES)
def test_a_killed_engine_stops_the_other_and_the_supervisor_exits_1(victim: str, tmp_path: Path) -> None:
    log = tmp_path / "log"
    ports = {engine: free_port() for engine in ENGINES}
    with serve_both(log, ports) as process:
        pids = serving(log, process, ports)
        os.kill(pids[victim], signal.SIGKILL)
        code = process.wait(EXIT_WITHIN_SECONDS)
    assert code == 1, log.read_text()
    [line] = error_lines(log)
    assert re.search(rf"\b{victim} engine was killed by SIGKILL; stopping the {other(victim)} engine$", line), line
    assert refused(ports[other(victim)])
    assert "Traceback" not in log.read_text()


def test_engines_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    # SIGKILL leaves the supervisor no chance to forward a stop: the kernel's parent-death
    # signal must, or the engines serve on as orphans nobody will stop.
    log = tmp_path / "log"
    ports = {engine: free_port() for engine in ENGINES}
    with serve_both(log, ports) as process:
        serving(log, process, ports)
        below = descendants(process.pid)
        process.kill()
        process.wait(EXIT_WITHIN_SECONDS)
        left = survivors(below, EXIT_WITHIN_SECONDS)
    assert not left, log.read_text()
    assert all(refused(port) for port in ports.values())
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("to_group", [False, True], ids=["SIGTERM", "SIGINT-to-group"])
def test_a_stop_signal_stops_both_engines_and_exits_0(to_group: bool, tmp_path: Path) -> None:
    log = tmp_path / "log"
    ports = {engine: free_port() for engine in ENGINES}
    with serve_both(log, ports) as process:
        serving(log, process, ports)
        below = descendants(process.pid)
        if to_group:  # Ctrl-C: the terminal signals every process of the foreground group
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        code = process.wait(EXIT_WITHIN_SECONDS)
        left = survivors(below, 5.0)
    assert code == 0, log.read_text()
    assert not left
    assert all(refused(port) for port in ports.values())
    assert "Traceback" not in log.read_text()
    assert not error_lines(log)
