"""``webduo bench``: its arithmetic, one tiny real run end to end, and its clean-up on Ctrl-C."""

from __future__ import annotations

import math
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import alive, descendants
from webduo.bench.plots import ideal_rps
from webduo.bench.results import EndpointStats, percentile
from webduo.bench.scenarios import SCENARIOS, ScenarioName, ServerConfig


def bench_command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "webduo", "bench", "--out", str(out), *args]


def test_percentile_is_the_smallest_time_covering_the_fraction() -> None:
    histogram = {1: 50, 2: 45, 10: 4, 300: 1}
    assert percentile(histogram, 0.50) == 1
    assert percentile(histogram, 0.95) == 2
    assert percentile(histogram, 0.99) == 10
    assert percentile(histogram, 1.0) == 300
    assert math.isnan(percentile({}, 0.5))


def test_steady_rps_leaves_out_the_ramp_up_and_the_partial_last_second() -> None:
    per_second = {100: 3, 101: 40, 102: 60, 103: 62, 104: 58, 105: 7}
    entry = EndpointStats("GET", "/io_task", sum(per_second.values()), 0, per_second, {100: 1})
    assert entry.steady_rps() == pytest.approx(60)


def test_sweep_levels_and_ideals() -> None:
    sweep = SCENARIOS[ScenarioName.io_sweep]
    assert sweep.user_levels(64) == [1, 4, 16, 64]
    assert sweep.user_levels(40) == [1, 4, 16, 40]
    assert SCENARIOS[ScenarioName.mixed].user_levels(40) == [40]
    assert [server.label for server in sweep.servers(("sync", "async"), 3, 3)] == ["sync-w1t1", "sync-w2t4", "async"]
    assert ideal_rps(ServerConfig("async"), 64, 100) == pytest.approx(640)
    assert ideal_rps(ServerConfig("sync", 2, 4), 64, 100) == pytest.approx(80)
    assert ideal_rps(ServerConfig("sync", 2, 4), 4, 100) == pytest.approx(40)


def test_bench_never_loads_a_remote_weather_api(tmp_path: Path) -> None:
    result = subprocess.run(
        bench_command(tmp_path, "--weather-url", "https://api.open-meteo.com/v1/forecast"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tiny_bench_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = subprocess.run(
        bench_command(out, "--mode", "both", "--users", "2", "--duration", "3"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = (out / "mixed.md").read_text()
    assert "| sync-w2t4 | 2 |" in report
    assert "| async | 2 |" in report
    assert "GET /error_task" in report
    assert "GET /weather" in report  # against the Open-Meteo stand-in the bench started
    for server in ("sync-w2t4", "async"):
        stats = (out / "raw" / "mixed" / server / "u2" / "locust_stats.csv").read_text()
        assert "/hello" in stats
        assert (out / "raw" / "mixed" / server / "u2" / "locust.html").exists()
    pngs = sorted(out.glob("*.png"))
    assert [png.name for png in pngs] == ["mixed-failures.png", "mixed-latency.png", "mixed-rps.png"]
    assert all(png.read_bytes().startswith(b"\x89PNG") for png in pngs)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover processes through /proc")
def test_ctrl_c_stops_every_server_and_locust(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    bench = subprocess.Popen(
        bench_command(out, "--mode", "async", "--users", "2", "--duration", "60"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server_log = out / "raw" / "mixed" / "async" / "server.log"
    deadline = time.monotonic() + 30
    while not (out / "raw" / "mixed" / "async" / "u2" / "locust.log").exists():
        assert time.monotonic() < deadline, "the bench never started locust"
        time.sleep(0.1)
    time.sleep(1)
    started = descendants(bench.pid)
    # The stand-in, the server (and its pool) and locust at least.
    assert len(started) >= 4, started
    port = int(re.findall(r"127\.0\.0\.1:(\d+)", server_log.read_text())[0])
    assert listening(port)
    bench.send_signal(signal.SIGINT)
    _, stderr = bench.communicate(timeout=30)
    assert bench.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not listening(port)
    assert [pid for pid in started if alive(pid)] == []
