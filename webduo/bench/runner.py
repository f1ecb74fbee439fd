"""``webduo bench``'s orchestration: servers up, locust headless against each, report and plots.

With a target (``--target``) it starts no server and no stand-in: locust loads the deployment
already running there, after one ``GET /healthz`` has shown that something answers.

Everything it starts runs in its own process group and is stopped in a ``finally`` — on
success, on failure, on Ctrl-C and on SIGTERM — so a bench never leaves servers behind.
Every run is bounded: users and duration are capped by the CLI, and a locust that overstays
its duration by more than :data:`LOCUST_GRACE` seconds is killed.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Final

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from webduo.bench import plots
from webduo.bench.processes import LOOPBACK, ServerFailed, free_port, has_exited, process_group, wait_until_answering
from webduo.bench.report import Profile, ScenarioResult, render
from webduo.bench.results import RunResult, load_run
from webduo.bench.scenarios import Engine, LoadedServer, Scenario, ServerConfig, Target


LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")
LOCUST_GRACE: Final = 30.0
STOP_TIMEOUT_S: Final = 2
TICK: Final = 0.25
PREFIX: Final = "locust"
WEATHER_STAND_IN: Final = "webduo.testing.openmeteo"
TARGET_PROBE_TIMEOUT_S: Final = 5.0


class BenchFailed(RuntimeError):
    """A server or locust did not do its part; the message says which and shows its output."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    scenarios: tuple[Scenario, ...]
    engines: tuple[Engine, ...]
    users: int
    spawn_rate: float | None
    duration_s: int
    workers: int
    threads: int
    out: Path
    io_delay_ms: int = 100
    cpu_n: int = 100_000
    server_log_level: str = "WARNING"
    weather_url: str | None = None
    target: str | None = None
    """A running deployment to load instead of starting servers."""
    processes: int = 1
    """Locust processes generating the load; more than one forks locust (its ``--processes``)."""
    weather: bool | None = None
    """Whether to load /weather; ``None``: whenever the bench's own servers have a stand-in to call."""

    @property
    def loads_weather(self) -> bool:
        """A target's upstream may be the real Open-Meteo, so /weather is loaded there only when asked."""
        if self.target is not None:
            return self.weather is True
        return self.weather_url is not None and self.weather is not False

    def profile(self) -> Profile:
        return Profile(
            users=self.users,
            spawn_rate=self.spawn_rate or self.users,
            duration_s=self.duration_s,
            io_delay_ms=self.io_delay_ms,
            cpu_n=self.cpu_n,
            weather=self.loads_weather,
            processes=self.processes,
        )


def run_bench(options: BenchOptions, console: Console) -> list[ScenarioResult]:
    """Run every scenario against every server it compares; write reports and plots under ``options.out``."""
    options.out.mkdir(parents=True, exist_ok=True)
    results = []
    with terminate_as_interrupt(), weather_upstream(options) as weather_url, progress_display(console) as progress:
        options = replace(options, weather_url=weather_url)
        for scenario in options.scenarios:
            result = run_scenario(scenario, options, progress)
            (options.out / f"{scenario.name.value}.md").write_text(render(result))
            results.append(result)
    for result in results:
        report = options.out / f"{result.scenario.name.value}.md"
        console.print(
            f"[green]report[/green] {report} with {len(result.plots)} plots; raw locust files in {options.out / 'raw'}"
        )
    return results


def run_scenario(scenario: Scenario, options: BenchOptions, progress: Progress) -> ScenarioResult:
    profile = options.profile()
    load_average = os.getloadavg()[0]
    sweeps: list[tuple[RunResult, ...]] = []
    warnings: list[str] = []
    raw = options.out / "raw" / scenario.name.value
    for server in servers_under_test(scenario, options):
        runs = []
        with serving(server, options, raw / server.label / "server.log") as base_url:
            for users in scenario.user_levels(options.users):
                directory = raw / server.label / f"u{users}"
                run = run_locust(scenario, server, users, base_url, directory, options, progress)
                warnings += [f"{server.label}, {users} users: {line}" for line in locust_warnings(directory)]
                runs.append(run)
        sweeps.append(tuple(runs))
    plotted = draw(scenario, sweeps, options)
    return ScenarioResult(scenario, profile, tuple(sweeps), plotted, tuple(warnings), load_average)


def draw(scenario: Scenario, sweeps: list[tuple[RunResult, ...]], options: BenchOptions) -> tuple[Path, ...]:
    name = scenario.name.value
    runs = [run for sweep in sweeps for run in sweep]
    out = options.out
    if scenario.sweep:
        path = plots.plot_path(out, name, "throughput")
        return (plots.throughput_vs_users(sweeps, "/io_task", options.io_delay_ms, path),)
    return (
        plots.rps_over_time(runs, plots.title(name, "rps"), options.duration_s, plots.plot_path(out, name, "rps")),
        plots.latency_per_endpoint(runs, plots.title(name, "latency"), plots.plot_path(out, name, "latency")),
        plots.failures_per_endpoint(runs, plots.title(name, "failures"), plots.plot_path(out, name, "failures")),
    )


def servers_under_test(scenario: Scenario, options: BenchOptions) -> list[LoadedServer]:
    """The target alone when there is one, else the servers ``scenario`` compares."""
    if options.target is not None:
        return [Target(options.target)]
    return list(scenario.servers(options.engines, options.workers, options.threads))


@contextmanager
def weather_upstream(options: BenchOptions) -> Iterator[str | None]:
    """The forecast URL the servers call: the one given, else the local Open-Meteo stand-in when
    this build has it (started here), else ``None`` and /weather is left out of the load.
    A target calls its own upstream, and ``--no-weather`` needs none: no stand-in for either."""
    wanted = options.target is None and options.weather is not False
    if options.weather_url is not None or not wanted or not importable(WEATHER_STAND_IN):
        yield options.weather_url
        return
    port = free_port()
    command = [sys.executable, "-m", WEATHER_STAND_IN, "--host", LOOPBACK, "--port", str(port)]
    log = options.out / "raw" / "weather-stand-in.log"
    with process_group(command, log, os.environ) as process:
        forecast_url = f"http://{LOOPBACK}:{port}/v1/forecast"
        try:
            wait_until_answering(forecast_url, process, log)
        except ServerFailed as exc:
            raise BenchFailed(f"weather stand-in: {exc}") from None
        yield forecast_url


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@contextmanager
def serving(server: LoadedServer, options: BenchOptions, log: Path) -> Iterator[str]:
    """The base URL to load: the target's once it answers, else that of a server started for the run."""
    if isinstance(server, Target):
        yield answering_target(server)
        return
    with running_server(server, options, log) as base_url:
        yield base_url


def answering_target(target: Target) -> str:
    """``target``'s base URL, once ``GET /healthz`` answered 200: loading nothing would measure nothing."""
    url = f"{target.base_url}/healthz"
    try:
        status = httpx.get(url, timeout=TARGET_PROBE_TIMEOUT_S).status_code
    except httpx.HTTPError as exc:
        raise BenchFailed(f"target {target.url} did not answer GET /healthz: {exc}") from None
    if status != 200:
        raise BenchFailed(f"target {target.url} answered GET /healthz with {status}, not 200: is it webduo?")
    return target.base_url


@contextmanager
def running_server(server: ServerConfig, options: BenchOptions, log: Path) -> Iterator[str]:
    """``webduo serve`` for ``server`` on a free loopback port; yields its base URL once healthy."""
    port = free_port()
    command = [sys.executable, "-m", "webduo", "serve", *server.serve_flags(), "--host", LOOPBACK, "--port", str(port)]
    env = {**os.environ, "WEBDUO_LOG_LEVEL": options.server_log_level}
    if options.weather_url is not None:
        # No cache: every /weather is then a real upstream round trip, the I/O the bench is about.
        env |= {"WEBDUO_WEATHER_URL": options.weather_url, "WEBDUO_WEATHER_CACHE_TTL": "0"}
    with process_group(command, log, env) as process:
        base_url = f"http://{LOOPBACK}:{port}"
        try:
            wait_until_answering(f"{base_url}/healthz", process, log)
        except ServerFailed as exc:
            raise BenchFailed(f"{server.label}: {exc}") from None
        yield base_url


def run_locust(
    scenario: Scenario,
    server: LoadedServer,
    users: int,
    base_url: str,
    directory: Path,
    options: BenchOptions,
    progress: Progress,
) -> RunResult:
    """One headless locust run of ``scenario``'s users against ``base_url``, watched until it ends."""
    # An earlier run's files must not pass for this one's if locust fails to write its own.
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    prefix = str(directory / PREFIX)
    command = locust_command(scenario, users, base_url, prefix, options)
    env = {
        **os.environ,
        "WEBDUO_BENCH_IO_DELAY_MS": str(options.io_delay_ms),
        "WEBDUO_BENCH_CPU_N": str(options.cpu_n),
        "WEBDUO_BENCH_WEATHER": "1" if options.loads_weather else "0",
    }
    log = directory / "locust.log"
    task = progress.add_task(
        f"{scenario.name.value} · {server.label} · {users} users", total=options.duration_s, rps=""
    )
    with process_group(command, log, env) as locust:
        stall = watch(locust, Path(f"{prefix}_stats_history.csv"), options.duration_s, progress, task)
    progress.update(task, completed=options.duration_s)
    if locust.returncode not in (0, 1):  # 1 only says some request failed; the report judges which
        raise BenchFailed(f"locust exited with {locust.returncode} ({server.label}); its log:\n{tail(log)}")
    try:
        run = replace(load_run(server, users, directory, PREFIX), machine_stall_s=stall)
    except FileNotFoundError:
        raise BenchFailed(f"locust wrote no results ({server.label}); its log:\n{tail(log)}") from None
    return measured(run, options.duration_s)


def locust_command(scenario: Scenario, users: int, base_url: str, prefix: str, options: BenchOptions) -> list[str]:
    """Locust's headless command line for one run, its files written under ``prefix``."""
    spawn_rate = options.spawn_rate or users
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base_url,
        "--users", str(users), "--spawn-rate", f"{spawn_rate:g}", "--run-time", f"{options.duration_s}s",
        "--stop-timeout", str(STOP_TIMEOUT_S), "--only-summary", "--loglevel", "WARNING",
        "--csv", prefix, "--csv-full-history", "--html", f"{prefix}.html", "--json-file", prefix,
    ]  # fmt: skip
    if options.processes > 1:
        # Forked workers in the same process group, so stopping the group stops them too.
        command += ["--processes", str(options.processes)]
    return [*command, *scenario.user_classes]


def measured(run: RunResult, duration_s: int) -> RunResult:
    """``run``, if it measured anything: plots and tables of no request would pass for a result."""
    if run.total.requests == 0:
        raise BenchFailed(
            f"no request completed in {duration_s} s ({run.server.label}, {run.users} users): nothing to measure;"
            f" locust's log:\n{tail(run.directory / 'locust.log')}"
        )
    return run


def watch(locust: subprocess.Popen[bytes], history: Path, duration_s: int, progress: Progress, task: TaskID) -> float:
    """Update ``task`` until locust exits; raise (the caller's cleanup kills it) if it overstays.

    Returns how late the loop's tick was at worst, in seconds: the machine's longest stall.
    """
    started = last = time.monotonic()
    stall = 0.0
    while not has_exited(locust):
        now = time.monotonic()
        stall, last = max(stall, now - last - TICK), now
        elapsed = now - started
        if elapsed > duration_s + LOCUST_GRACE:
            raise BenchFailed(f"locust still running {elapsed:.0f} s into a {duration_s} s run")
        progress.update(task, completed=min(elapsed, duration_s), rps=latest_rps(history))
        time.sleep(TICK)
    locust.wait()
    return stall


def latest_rps(history: Path) -> str:
    """The aggregate requests/s locust last wrote (it flushes its CSV every few seconds)."""
    try:
        with history.open(newline="") as file:
            rows = [row for row in csv.DictReader(file) if row.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return ""
    return f"{float(rows[-1]['Requests/s']):.0f} req/s" if rows else ""


def locust_warnings(directory: Path) -> list[str]:
    """Locust's own warnings worth repeating, above all that the load generator ran out of CPU."""
    log = directory / "locust.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return sorted({line.split("/WARNING/", 1)[-1].strip() for line in lines if "CPU usage" in line})


def tail(log: Path, size: int = 3000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no output)"


@contextmanager
def progress_display(console: Console) -> Iterator[Progress]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:>4.0f}/{task.total:.0f} s"),
        TextColumn("{task.fields[rps]}", style="cyan"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Make SIGTERM unwind like Ctrl-C, so the ``finally`` blocks stop every child either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
