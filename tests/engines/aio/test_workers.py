"""The async engine's process model: pre-forked event loops, graceful stops, early signals, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import HOST, free_port, run_server, wait_for_port


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, workers: str) -> None:
    with run_server("async", tmp_path, args=("--workers", workers)) as running:
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{running.base_url}/io_task?delay_ms=1500", timeout=10))
        )
        slow.start()
        time.sleep(0.5)
        running.process.send_signal(signal.SIGTERM)
        slow.join(10)
        assert running.process.wait(15) == 0, running.log_text()
    assert [answer.status_code for answer in answers] == [200]
    assert answers[0].json()["requested_ms"] == 1500


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_signal_as_soon_as_the_port_opens_is_a_clean_stop(tmp_path: Path, workers: str) -> None:
    with run_server("async", tmp_path, args=("--workers", workers), answering=False) as running:
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(15) == 0, running.log_text()
        assert "Traceback" not in running.log_text()


def test_two_workers_share_the_port(tmp_path: Path) -> None:
    with run_server("async", tmp_path, args=("--workers", "2")) as running, httpx.Client() as client:
        statuses = {client.get(f"{running.base_url}/hello").status_code for _ in range(20)}
        assert statuses == {200}
        assert "2 event-loop processes" in running.log_text()


def test_ctrl_c_to_the_process_group_stops_quietly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the CPU pool's processes too; they must leave the stop to the server."""
    port = free_port()
    command = [sys.executable, "-m", "webduo", "serve", "--mode", "async", "--host", HOST, "--port", str(port)]
    log = tmp_path / "log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "KeyboardInterrupt" not in log.read_text()
    assert "Traceback" not in log.read_text()
