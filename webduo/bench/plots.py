"""The bench's PNG plots, drawn with matplotlib's object API (no pyplot state, no GUI backend)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from typing import Final

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from webduo.bench.results import EXPECTED_FAILURE_ENDPOINTS, EndpointStats, RunResult
from webduo.bench.scenarios import RAMP_UP_SECONDS, LoadedServer, Target


# EndpointStats properties, one panel each.
PERCENTILES: Final = ("p50", "p95", "p99")
SUB_MS = 0.5
# Labels at 1, 2 and 5 of every decade: matplotlib's default labels only the powers of ten, and
# "80" or "607 req/s" cannot be read off an axis marked 10^1 and 10^2.
LOG_STEPS: Final = (1.0, 2.0, 5.0)
LOG_GRID: Final = (3.0, 4.0, 6.0, 7.0, 8.0, 9.0)
# The line under each plot wherever it is shown, by the kind its file name ends with.
CAPTIONS: Final = {
    "rps": f"Requests completed each second, every endpoint together, one line per server; the first"
    f" {RAMP_UP_SECONDS} s ramp the users up.",
    "latency": f"p50, p95 and p99 response time of each endpoint, one bar per server, in ms on a log scale"
    f" (under 1 ms is drawn at {SUB_MS}).",
    "failures": "Failed requests per endpoint and server; the 500s /error_task gives on purpose are not failures.",
    "throughput": "Steady /io_task throughput as users grow, on log axes; dashed, each server's ideal: users / delay,"
    " capped at workers x threads for sync.",
}


# The title of a scenario's plot of each kind, after "<scenario>: " (the sweep's names its endpoint).
TITLES: Final = {"rps": "requests per second", "latency": "latency per endpoint", "failures": "failures per endpoint"}


def plot_path(out: Path, scenario: str, kind: str) -> Path:
    """Where a scenario's plot of ``kind`` goes: ``<out>/<scenario>-<kind>.png``."""
    return out / f"{scenario}-{kind}.png"


def kind_of(plot: Path) -> str:
    return plot.stem.rsplit("-", 1)[-1]


def caption(plot: Path) -> str:
    """The one-line caption of ``<scenario>-<kind>.png``."""
    return CAPTIONS[kind_of(plot)]


def title(scenario: str, kind: str) -> str:
    return f"{scenario}: {TITLES[kind]}"


def colour(server: LoadedServer) -> str:
    """The same colour for a server in every plot: blue for async, warm tones for sync, green for a target."""
    if isinstance(server, Target):
        return "tab:green"
    if server.engine == "async":
        return "tab:blue"
    return "tab:orange" if server.concurrency == 1 else "tab:red"


def save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def rps_over_time(runs: Sequence[RunResult], title: str, duration_s: int, path: Path) -> Path:
    """Requests completed per second, all endpoints together, one line per server."""
    return save(rps_figure(runs, title, duration_s), path)


def rps_figure(runs: Sequence[RunResult], title: str, duration_s: int) -> Figure:
    """The run's whole length on the x axis, from 0: a second or two of data is a short line, not a
    zoom onto a sliver of axis; markers keep a lone second visible."""
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    last = 0
    for run in runs:
        points = run.rps_over_time()
        last = max([last, *(t for t, _ in points)])
        axes.plot(
            [t for t, _ in points],
            [n for _, n in points],
            label=run.server.label,
            color=colour(run.server),
            marker="o",
            markersize=3,
        )
    axes.set(title=title, xlabel="seconds since start", ylabel="requests / s")
    axes.set_xlim(0, max(duration_s, last))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    if not any(run.total.requests for run in runs):
        say_nothing_completed(axes)
    axes.legend()
    return figure


def label_log_axis(axis: Axis) -> None:
    """Plain numbers (0.5, 1, 2, 5, 10, 20, ...) on a log axis; the other integers get grid lines only."""
    axis.set_major_locator(LogLocator(base=10, subs=LOG_STEPS, numticks=30))
    axis.set_major_formatter(FuncFormatter(plain_number))
    axis.set_minor_locator(LogLocator(base=10, subs=LOG_GRID, numticks=30))
    axis.set_minor_formatter(NullFormatter())


def plain_number(value: float, _position: int | None = None) -> str:
    return f"{value:g}"


def say_nothing_completed(axes: Axes) -> None:
    axes.text(0.5, 0.5, "no request completed", ha="center", transform=axes.transAxes)


@dataclass(frozen=True, slots=True)
class Bars:
    """One bar per server at each endpoint: ``values[i][j]`` is ``servers[i]``'s at ``names[j]``.

    Plain numbers, so a plot can be drawn from locust's results or from a report's tables alike.
    """

    servers: tuple[LoadedServer, ...]
    names: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]
    """``nan`` where a server did not load the endpoint."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """One server's steady throughput at each user level of a sweep."""

    server: LoadedServer
    users: tuple[int, ...]
    rps: tuple[float, ...]


def bars_of(runs: Sequence[RunResult], value: Callable[[EndpointStats], float], missing: float = math.nan) -> Bars:
    names = tuple(endpoint_names(runs))
    values = tuple(tuple(value(entry) if (entry := run.endpoint(name)) else missing for name in names) for run in runs)
    return Bars(tuple(run.server for run in runs), names, values)


def grouped_bars(axes: Axes, bars: Bars) -> None:
    """Side-by-side bars, one group per endpoint."""
    count = len(bars.servers)
    width = 0.8 / max(count, 1)
    for i, server in enumerate(bars.servers):
        offsets = [j + (i - (count - 1) / 2) * width for j in range(len(bars.names))]
        heights = [0.0 if math.isnan(value) else value for value in bars.values[i]]
        axes.bar(offsets, heights, width, label=server.label, color=colour(server))
    axes.set_xticks(range(len(bars.names)), bars.names, rotation=20)
    axes.grid(axis="y", alpha=0.3)


def endpoint_names(runs: Sequence[RunResult]) -> list[str]:
    return sorted({entry.name for run in runs for entry in run.endpoints})


def latency_per_endpoint(runs: Sequence[RunResult], title: str, path: Path) -> Path:
    """p50, p95 and p99 response time of each endpoint, one bar per server, on a log scale."""
    return save(latency_figure(runs, title), path)


def latency_figure(runs: Sequence[RunResult], title: str) -> Figure:
    return latency_chart({label: bars_of(runs, attrgetter(label)) for label in PERCENTILES}, title)


def latency_chart(percentiles: Mapping[str, Bars], title: str) -> Figure:
    """One panel per percentile (``p50``: its bars), sharing one log scale of milliseconds."""
    figure = Figure(figsize=(12, 4.2))
    panels = figure.subplots(1, len(percentiles), sharey=True)
    for axes, (label, bars) in zip(panels, percentiles.items(), strict=True):
        # Locust records whole milliseconds; a 0 ms percentile would vanish from a log axis.
        floored = tuple(tuple(max(value, SUB_MS) for value in row) for row in bars.values)
        grouped_bars(axes, replace(bars, values=floored))
        axes.set_yscale("log")
        label_log_axis(axes.yaxis)
        axes.set_title(f"{label} latency")
        if not bars.names:
            axes.set_ylim(SUB_MS, 1000)  # a log axis without data would span 1e-300..1e300
            say_nothing_completed(axes)
    panels[0].set_ylabel(f"ms (log scale; under 1 ms drawn at {SUB_MS})")
    servers = len(next(iter(percentiles.values())).servers)
    figure.legend(*panels[0].get_legend_handles_labels(), loc="upper right", ncol=max(servers, 1))
    figure.suptitle(title, x=0.02, ha="left")
    return figure


def failures_per_endpoint(runs: Sequence[RunResult], title: str, path: Path) -> Path:
    """Failed requests per endpoint and server (``/error_task``'s deliberate 500s are not failures)."""
    return save(failures_chart(bars_of(runs, lambda entry: float(entry.failures), missing=0.0), title), path)


def failures_chart(bars: Bars, title: str) -> Figure:
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    grouped_bars(axes, bars)
    axes.set(title=title, ylabel="failed requests")
    if not any(value > 0 for row in bars.values for value in row):
        axes.set_ylim(0, 1)
        expected = ", ".join(sorted(EXPECTED_FAILURE_ENDPOINTS))
        axes.text(0.5, 0.5, f"no failures\n({expected}'s 500s are expected)", ha="center", transform=axes.transAxes)
    axes.legend()
    return figure


def throughput_vs_users(sweeps: Sequence[Sequence[RunResult]], endpoint: str, delay_ms: int, path: Path) -> Path:
    """Steady throughput of ``endpoint`` against users, one line per server, with each one's ideal dashed.

    The ideal of a closed loop without think time is users / delay, capped, for the sync engine,
    by how many requests its threads can wait on at once (workers x threads).
    """
    return save(throughput_figure(sweeps, endpoint, delay_ms), path)


def throughput_figure(sweeps: Sequence[Sequence[RunResult]], endpoint: str, delay_ms: int) -> Figure:
    lines = [
        Sweep(
            runs[0].server,
            tuple(run.users for run in runs),
            tuple(entry.steady_rps() if (entry := run.endpoint(endpoint)) else math.nan for run in runs),
        )
        for runs in sweeps
        if runs
    ]
    return throughput_chart(lines, endpoint, delay_ms)


def throughput_chart(sweeps: Sequence[Sweep], endpoint: str, delay_ms: int) -> Figure:
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for sweep in sweeps:
        server = sweep.server
        ideal = [ideal_rps(server, n, delay_ms) for n in sweep.users]
        axes.plot(sweep.users, sweep.rps, marker="o", label=server.label, color=colour(server))
        axes.plot(
            sweep.users, ideal, linestyle="--", alpha=0.6, color=colour(server), label=ideal_label(server, delay_ms)
        )
    axes.set_xscale("log", base=2)
    levels = sorted({users for sweep in sweeps for users in sweep.users})
    axes.set_xticks(levels, [str(level) for level in levels])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_yscale("log")
    label_log_axis(axes.yaxis)
    axes.set(
        title=f"{endpoint}?delay_ms={delay_ms}: throughput vs users", xlabel="concurrent users", ylabel="requests / s"
    )
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    return figure


def ideal_label(server: LoadedServer, delay_ms: int) -> str:
    """The ideal line's legend entry, with its formula: the dashed line says what it is, not just whose."""
    waiting = "users" if server.concurrency is None else f"min(users, {server.concurrency})"
    return f"{server.label} ideal: {waiting} / {delay_ms / 1000:g} s"


def ideal_rps(server: LoadedServer, users: int, delay_ms: int) -> float:
    waiting = users if server.concurrency is None else min(users, server.concurrency)
    return waiting / (delay_ms / 1000)
