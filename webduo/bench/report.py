"""The Markdown report of one scenario: its profile, tables per server and endpoint, and the plots."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from webduo.bench.plots import caption, ideal_rps
from webduo.bench.results import RunResult
from webduo.bench.scenarios import Scenario


# A tick this late is no scheduling jitter: something paused every process on the machine.
MACHINE_STALL_S = 0.5
# Headings of the tables webduo.bench.replot reads the figures back from.
PER_ENDPOINT: Final = "Per endpoint"
SWEEP: Final = "/io_task throughput vs users"


@dataclass(frozen=True, slots=True)
class Profile:
    """The load every server in a scenario got, identical for each."""

    users: int
    spawn_rate: float
    duration_s: int
    io_delay_ms: int
    cpu_n: int
    weather: bool
    processes: int = 1
    """Locust processes generating the load (``--processes``)."""


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: Scenario
    profile: Profile
    sweeps: tuple[tuple[RunResult, ...], ...]
    """One tuple per server, one run per user level (a single run unless the scenario sweeps)."""
    plots: tuple[Path, ...]
    locust_warnings: tuple[str, ...]
    load_average: float
    """The machine's 1-minute load average as the scenario started: other work skews every figure."""

    @property
    def runs(self) -> list[RunResult]:
        return [run for sweep in self.sweeps for run in sweep]


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def rate(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def render(result: ScenarioResult) -> str:
    scenario, profile = result.scenario, result.profile
    lines = [
        f"# Bench: {scenario.name.value} — {scenario.title}",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; servers and load generator share the machine "
        f"and talk over 127.0.0.1. 1-minute load average as it started: {result.load_average:.2f}.",
        "",
        "## Profile",
        "",
        f"- locust users: {', '.join(scenario.user_classes)}; closed loop without think time",
        f"- users: {', '.join(str(run.users) for run in result.sweeps[0]) if result.sweeps else profile.users}"
        f" (spawn rate {profile.spawn_rate:g}/s), {profile.duration_s} s per run",
        f"- /io_task?delay_ms={profile.io_delay_ms}, /cpu_task?n={profile.cpu_n}"
        + ("" if profile.weather else "; /weather not loaded"),
        f"- load generator: {profile.processes} locust process{'es' if profile.processes > 1 else ''}",
        "- servers: " + "; ".join(sweep[0].server.describe() for sweep in result.sweeps if sweep),
        "",
    ]
    # A sweep loads one endpoint, so its per-endpoint table would repeat the per-server one.
    tables = (
        sweep_table(result) + summary_table(result.runs)
        if scenario.sweep
        else summary_table(result.runs) + endpoint_table(result.runs)
    )
    lines += tables + failure_list(result.runs) + stall_list(result.runs)
    if result.locust_warnings:
        lines += ["## Load generator warnings", "", *(f"- {warning}" for warning in result.locust_warnings), ""]
    return "\n".join(lines + plot_section(result.plots))


def plot_section(plots: Sequence[Path]) -> list[str]:
    """The report's last section: each plot, then its one-line caption."""
    lines = ["## Plots", ""]
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.name})", "", f"*{caption(plot)}*", ""]
    return lines


def summary_table(runs: Sequence[RunResult]) -> list[str]:
    lines = [
        "## Per server",
        "",
        "| server | users | requests | steady req/s | unexpected failures | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        total = run.total
        lines.append(
            f"| {run.server.label} | {run.users} | {total.requests} | {rate(total.steady_rps())} "
            f"| {run.unexpected_failures()} | {ms(total.p50)} | {ms(total.p95)} | {ms(total.p99)} "
            f"| {ms(total.slowest)} |"
        )
    return [*lines, ""]


def endpoint_table(runs: Sequence[RunResult]) -> list[str]:
    lines = [
        f"## {PER_ENDPOINT}",
        "",
        "| endpoint | server | users | requests | req/s | failures | p50 ms | p95 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted({entry.name for run in runs for entry in run.endpoints}):
        for run in runs:
            entry = run.endpoint(name)
            if entry is None:
                continue
            lines.append(
                f"| {entry.label} | {run.server.label} | {run.users} | {entry.requests} | {rate(entry.steady_rps())} "
                f"| {entry.failures} | {ms(entry.p50)} | {ms(entry.p95)} | {ms(entry.p99)} |"
            )
    return [*lines, ""]


def sweep_table(result: ScenarioResult) -> list[str]:
    delay = result.profile.io_delay_ms
    lines = [
        f"## {SWEEP} (ideal: users / {delay / 1000:g} s, capped at workers x threads for sync)",
        "",
        "| server | users | steady req/s | ideal req/s | of ideal | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result.runs:
        entry = run.endpoint("/io_task")
        if entry is None:
            continue
        measured, ideal = entry.steady_rps(), ideal_rps(run.server, run.users, delay)
        lines.append(
            f"| {run.server.label} | {run.users} | {rate(measured)} | {rate(ideal)} | {measured / ideal:.0%} "
            f"| {ms(entry.p50)} | {ms(entry.p99)} |"
        )
    return [*lines, ""]


def stall_list(runs: Sequence[RunResult]) -> list[str]:
    stalled = [run for run in runs if run.machine_stall_s >= MACHINE_STALL_S]
    if not stalled:
        return []
    lines = [
        "## Machine stalls",
        "",
        "The bench's own 250 ms tick ran late during these runs: the whole machine paused, locust and",
        "server alike, so their worst latencies measure the machine, not the server.",
        "",
    ]
    lines += [f"- {run.server.label}, {run.users} users: {run.machine_stall_s * 1000:.0f} ms" for run in stalled]
    return [*lines, ""]


def failure_list(runs: Sequence[RunResult]) -> list[str]:
    failures = [(run, failure) for run in runs for failure in run.failures]
    if not failures:
        return ["No request failed (the 500s of /error_task are expected and counted as successes).", ""]
    lines = ["## Failures", "", "| server | users | request | error | count |", "|---|---:|---|---|---:|"]
    for run, failure in failures:
        error = failure.error.replace("|", "\\|")
        lines.append(
            f"| {run.server.label} | {run.users} | {failure.method} {failure.name} | {error} | {failure.occurrences} |"
        )
    return [*lines, ""]
