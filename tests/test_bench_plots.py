"""The bench plots as matplotlib objects: what their axes and legends say, not their pixels."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tests.bench_runs import run, sweep_runs
from webduo.bench.plots import latency_figure, throughput_figure
from webduo.bench.report import Profile, ScenarioResult, render
from webduo.bench.scenarios import SCENARIOS, ScenarioName, ServerConfig


def drawn(figure: Figure) -> Figure:
    figure.draw_without_rendering()  # tick labels are only laid out by a draw
    return figure


def visible_labels(axes: Axes) -> list[str]:
    low, high = axes.get_ylim()
    return [tick.get_text() for tick in axes.get_yticklabels() if low <= tick.get_position()[1] <= high]


def test_throughput_axis_labels_plain_numbers_a_reader_can_interpolate() -> None:
    axes = drawn(throughput_figure(sweep_runs(), "/io_task", 100)).axes[0]
    assert visible_labels(axes) == ["10", "20", "50", "100", "200", "500"]
    assert [tick.get_text() for tick in axes.get_xticklabels(minor=True)] == []
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["1", "4", "16", "64"]


def test_latency_axes_label_plain_milliseconds() -> None:
    times = {1: 60, 15: 30, 300: 8, 1500: 2}  # p50 1 ms, p95 300 ms, p99 1.5 s
    runs = [run(ServerConfig("sync", 2, 4), 8, "/hello", 50, times), run(ServerConfig("async"), 8, "/hello", 50, times)]
    first, *others = drawn(latency_figure(runs, "latency")).axes
    assert visible_labels(first)[:10] == ["1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"]
    assert all(axes.get_ylim() == first.get_ylim() for axes in others)  # one shared, labelled scale


def test_every_ideal_line_says_its_formula_in_the_legend() -> None:
    axes = throughput_figure(sweep_runs(), "/io_task", 100).axes[0]
    legend = axes.get_legend()
    assert legend is not None
    assert [text.get_text() for text in legend.get_texts()] == [
        "sync-w1t1",
        "sync-w1t1 ideal: min(users, 1) / 0.1 s",
        "sync-w2t4",
        "sync-w2t4 ideal: min(users, 8) / 0.1 s",
        "async",
        "async ideal: users / 0.1 s",
    ]


def sweep_result(plots: tuple[Path, ...]) -> ScenarioResult:
    profile = Profile(users=64, spawn_rate=64, duration_s=10, io_delay_ms=100, cpu_n=100_000, weather=False)
    sweeps = tuple(tuple(runs) for runs in sweep_runs())
    return ScenarioResult(SCENARIOS[ScenarioName.io_sweep], profile, sweeps, plots, (), 0.5)


def test_a_report_puts_a_one_line_caption_under_each_plot() -> None:
    report = render(sweep_result((Path("io-sweep-throughput.png"),)))
    section = report.split("## Plots\n", 1)[1].splitlines()
    assert section[:3] == ["", "![io-sweep-throughput](io-sweep-throughput.png)", ""]
    assert section[3].startswith("*Steady /io_task throughput as users grow")
    assert section[3].endswith(".*")
