"""``webduo bench``: its arithmetic, one tiny real run end to end, and its clean-up on Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import alive, descendants
from tests.servers import run_server
from tests.weather.support import fast_env
from webduo.bench.plots import SUB_MS, ideal_rps, latency_figure, rps_figure
from webduo.bench.processes import free_port
from webduo.bench.results import EndpointStats, RunResult, percentile
from webduo.bench.runner import LOCUSTFILE, BenchFailed, BenchOptions, locust_command, measured
from webduo.bench.scenarios import MIN_DURATION_S, SCENARIOS, ScenarioName, ServerConfig
from webduo.bench.urls import target_problem
from webduo.testing.openmeteo import FakeOpenMeteo


# Locust runs flat out on both cores: make pytest runs these, and the fleet's load (tests/fleet),
# alone after its parallel run, so that no other test competes with them for the CPU.
LOAD = pytest.mark.load


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


def run_bench_command(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bench_command(out, *args), capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:8080", None),
        ("https://localhost/", None),
        ("http://[::1]:8081/prefix", None),
        ("http://10.0.0.7:8080", "must be on loopback"),
        ("http://api.open-meteo.com", "must be on loopback"),
        ("127.0.0.1:8080", "must be an http:// or https:// URL"),
        ("http://127.0.0.1:99999", "has no valid port"),
        ("http://127.0.0.1:8080/?users=9", "without query, fragment or credentials"),
        ("http://me:secret@127.0.0.1:8080", "without query, fragment or credentials"),
    ],
)
def test_a_target_is_a_loopback_base_url(url: str, problem: str | None) -> None:
    found = target_problem(url)
    assert found is None if problem is None else (found is not None and problem in found), found


def test_a_remote_target_is_a_usage_error(tmp_path: Path) -> None:
    result = run_bench_command(tmp_path / "out", "--target", "http://192.0.2.1:8080")
    assert (result.returncode, result.stderr) == (
        2,
        "error: --target must be on loopback (127.0.0.1, ::1 or localhost)\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_server_flags_with_a_target_are_a_usage_error(tmp_path: Path) -> None:
    result = run_bench_command(
        tmp_path / "out", "--target", "http://127.0.0.1:8080", "--mode", "sync", "--threads", "8"
    )
    assert result.returncode == 2
    assert (
        result.stderr == "error: --mode, --threads set up the servers the bench starts; with --target it starts none\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_target_that_does_not_answer_could_not_be_run(tmp_path: Path) -> None:
    port = free_port()
    result = run_bench_command(tmp_path / "out", "--target", f"http://127.0.0.1:{port}", "--duration", "5")
    assert result.returncode == 3, result.stderr
    assert f"error: target http://127.0.0.1:{port} did not answer GET /healthz" in result.stderr
    assert "Traceback" not in result.stderr


def options(**overrides: object) -> BenchOptions:
    defaults: dict[str, object] = {
        "scenarios": (SCENARIOS[ScenarioName.mixed],),
        "engines": ("async",),
        "users": 4,
        "spawn_rate": None,
        "duration_s": 5,
        "workers": 1,
        "threads": 1,
        "out": Path("unused"),
    }
    return BenchOptions(**{**defaults, **overrides})  # type: ignore[arg-type]


def test_locust_forks_only_when_asked_for_processes() -> None:
    mixed = SCENARIOS[ScenarioName.mixed]
    single = locust_command(mixed, 4, "http://127.0.0.1:1", "prefix", options())
    assert "--processes" not in single
    forked = locust_command(mixed, 4, "http://127.0.0.1:1", "prefix", options(processes=3))
    assert forked[forked.index("--processes") + 1] == "3"
    assert forked[-1] == "MixedUser", "user classes come last"


@pytest.mark.slow
@LOAD
def test_locust_workers_leave_the_json_report_to_the_master(tmp_path: Path) -> None:
    master_port, nowhere = free_port(), f"http://127.0.0.1:{free_port()}"
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    master = [*locust, "--master", "--master-bind-port", str(master_port), "--expect-workers", "1", "--headless"]
    master += ["--host", nowhere, "--users", "1", "--run-time", "2s", "--json-file", str(tmp_path / "master")]
    worker = [*locust, "--worker", "--master-port", str(master_port), "--json-file", str(tmp_path / "worker")]
    with (tmp_path / "locust.log").open("wb") as log:
        started = [
            subprocess.Popen([*command, "HelloProbeUser"], stdout=log, stderr=log) for command in (master, worker)
        ]
        try:
            codes = [process.wait(timeout=60) for process in started]
        finally:
            for process in started:
                process.kill()
                process.wait()
    assert codes == [1, 0], (tmp_path / "locust.log").read_text()  # the master counted the refused requests
    assert json.loads((tmp_path / "master.json").read_text())[0]["num_requests"] > 0
    assert not (tmp_path / "worker.json").exists()


def test_weather_is_loaded_at_a_target_only_when_asked() -> None:
    stand_in = "http://127.0.0.1:8099/v1/forecast"
    assert options(weather_url=stand_in).loads_weather
    assert not options(weather_url=stand_in, weather=False).loads_weather
    assert not options(target="http://127.0.0.1:8080").loads_weather
    assert options(target="http://127.0.0.1:8080", weather=True).loads_weather


def test_out_an_existing_file_is_a_usage_error(tmp_path: Path) -> None:
    taken = tmp_path / "report.md"
    taken.write_text("mine")
    result = run_bench_command(taken, "--server-log-level", "debug")
    assert (result.returncode, result.stderr) == (2, f"error: --out: {taken} exists and is not a directory\n")
    assert taken.read_text() == "mine"


def test_out_below_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run_bench_command(tmp_path / "file" / "results")
    assert (result.returncode, result.stderr) == (2, f"error: --out: {tmp_path / 'file'} is not a directory\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_in_a_read_only_directory_is_a_usage_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        result = run_bench_command(locked / "results")
    finally:
        locked.chmod(0o700)
    assert (result.returncode, result.stderr) == (2, f"error: --out: cannot write in {locked}\n")


def test_a_run_too_short_to_measure_is_refused(tmp_path: Path) -> None:
    result = run_bench_command(tmp_path / "out", "--duration", str(MIN_DURATION_S - 1))
    assert result.returncode == 2
    assert f"Invalid value for '--duration': {MIN_DURATION_S - 1} s is too short to measure" in result.stderr
    assert list(tmp_path.iterdir()) == []


def run_of(per_second: dict[int, int], directory: Path) -> RunResult:
    endpoints = (EndpointStats("GET", "/hello", sum(per_second.values()), 0, per_second, {1: 1}),) if per_second else ()
    return RunResult(ServerConfig("async"), 1, endpoints, (), directory)


def test_a_run_that_completed_nothing_is_not_a_measurement(tmp_path: Path) -> None:
    with pytest.raises(BenchFailed, match=r"no request completed in 5 s \(async, 1 users\): nothing to measure"):
        measured(run_of({}, tmp_path), 5)
    assert measured(run_of({100: 1}, tmp_path), 5).total.requests == 1


def test_rps_plot_spans_the_run_even_for_one_second_of_data(tmp_path: Path) -> None:
    axes = rps_figure([run_of({100: 1}, tmp_path)], "one request", 5).axes[0]
    assert axes.get_xlim() == (0, 5)
    assert [line.get_marker() for line in axes.get_lines()] == ["o"]


def test_plots_of_nothing_say_so_instead_of_an_empty_axis(tmp_path: Path) -> None:
    nothing = [run_of({}, tmp_path)]
    rps = rps_figure(nothing, "nothing", 5).axes[0]
    assert [text.get_text() for text in rps.texts] == ["no request completed"]
    for axes in latency_figure(nothing, "nothing").axes:
        assert [text.get_text() for text in axes.texts] == ["no request completed"]
        assert axes.get_ylim() == (SUB_MS, 1000)


@pytest.mark.slow
@LOAD
def test_tiny_bench_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = subprocess.run(
        bench_command(out, "--mode", "both", "--users", "2", "--duration", str(MIN_DURATION_S)),
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


@pytest.mark.slow
@LOAD
def test_bench_loads_a_running_target_with_forked_locust(tmp_path: Path, openmeteo: FakeOpenMeteo) -> None:
    # The target's upstream fails, so every /weather is a 502 and the run must exit 1, naming it.
    openmeteo.state.script(default="503")
    env = {**fast_env(openmeteo), "WEBDUO_WEATHER_RETRIES": "0", "WEBDUO_LOG_LEVEL": "INFO"}
    out = tmp_path / "bench"
    tiny = ("--users", "2", "--duration", str(MIN_DURATION_S))
    with run_server("async", tmp_path, env) as target:
        result = subprocess.run(
            bench_command(out, "--target", target.base_url, "--processes", "2", "--weather", *tiny),
            capture_output=True,
            text=True,
            timeout=60,
        )
        served = target.log_text()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failure: target (2 users): GET /weather failed" in result.stderr
    report = (out / "mixed.md").read_text()
    assert f"- servers: `target` ({target.base_url}, already running: the bench started no server)" in report
    assert "- load generator: 2 locust processes" in report
    assert "| target | 2 |" in report
    assert "GET /hello" in served, "the load went to the target"
    assert openmeteo.state.count() > 0
    assert sorted(path.name for path in (out / "raw" / "mixed").iterdir()) == ["target"]
    assert not (out / "raw" / "weather-stand-in.log").exists(), "a target calls its own upstream"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@LOAD
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
