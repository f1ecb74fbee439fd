"""Redrawing a bench report's plots from its tables: the figures read back are the ones measured."""

from __future__ import annotations

import math
from operator import attrgetter
from pathlib import Path

import pytest

from tests.bench_runs import sweep_runs
from webduo.bench.plots import PERCENTILES, Bars, bars_of
from webduo.bench.replot import Report, endpoint_bars, figures, main, reports, sweeps
from webduo.bench.report import Profile, ScenarioResult, render
from webduo.bench.results import EndpointStats, RunResult
from webduo.bench.scenarios import SCENARIOS, ScenarioName, ServerConfig


DOCS_BENCH = Path(__file__).resolve().parent.parent / "docs" / "bench"
SYNC, ASYNC = ServerConfig("sync", 2, 4), ServerConfig("async")


def mixed_runs() -> list[RunResult]:
    def entry(name: str, failures: int, times: dict[int, int]) -> EndpointStats:
        return EndpointStats("GET", name, sum(times.values()), failures, {0: 5, 1: 5, 2: 5, 3: 5}, times)

    return [
        RunResult(
            SYNC,
            8,
            (entry("/hello", 0, {80: 90, 250: 9, 400: 1}), entry("/io_task", 3, {190: 99, 460: 1})),
            (),
            Path("."),
        ),
        RunResult(
            ASYNC, 8, (entry("/hello", 0, {0: 90, 2: 9, 31: 1}), entry("/io_task", 0, {110: 99, 170: 1})), (), Path(".")
        ),
    ]


def written(directory: Path, name: ScenarioName, runs: list[list[RunResult]], kinds: tuple[str, ...]) -> Path:
    profile = Profile(users=8, spawn_rate=8, duration_s=10, io_delay_ms=100, cpu_n=100_000, weather=False)
    plots = tuple(directory / f"{name.value}-{kind}.png" for kind in kinds)
    result = ScenarioResult(SCENARIOS[name], profile, tuple(map(tuple, runs)), plots, (), 0.5)
    path = directory / f"{name.value}.md"
    path.write_text(render(result), encoding="utf-8")
    return path


def report_of(path: Path) -> Report:
    return Report(path, path.read_text(encoding="utf-8"))


def same(read: Bars, measured: Bars) -> bool:
    return (read.servers, read.names) == (measured.servers, measured.names) and all(
        (math.isnan(a) and math.isnan(b)) or a == b
        for row_a, row_b in zip(read.values, measured.values, strict=True)
        for a, b in zip(row_a, row_b, strict=True)
    )


def test_the_tables_give_back_the_latency_and_failures_that_were_measured(tmp_path: Path) -> None:
    runs = mixed_runs()
    report = report_of(written(tmp_path, ScenarioName.mixed, [[r] for r in runs], ("rps", "latency", "failures")))
    for label in PERCENTILES:
        assert same(endpoint_bars(report, f"{label} ms"), bars_of(runs, attrgetter(label)))
    assert same(endpoint_bars(report, "failures"), bars_of(runs, lambda entry: float(entry.failures)))


def test_the_sweep_table_gives_back_each_servers_line(tmp_path: Path) -> None:
    measured = sweep_runs()
    read = sweeps(report_of(written(tmp_path, ScenarioName.io_sweep, measured, ("throughput",))))
    assert [(line.server, line.users) for line in read] == [(runs[0].server, (1, 4, 16, 64)) for runs in measured]
    for line, runs in zip(read, measured, strict=True):
        entries = [r.endpoint("/io_task") for r in runs]
        # The table rounds to 0.1 req/s; that is what the redrawn plot shows.
        assert line.rps == pytest.approx([e.steady_rps() for e in entries if e is not None], abs=0.05)


def test_replot_redraws_what_the_tables_hold_and_captions_every_plot(tmp_path: Path) -> None:
    path = written(tmp_path, ScenarioName.mixed, [[r] for r in mixed_runs()], ("rps", "latency", "failures"))
    (tmp_path / "mixed-rps.png").write_bytes(b"measured per second")  # not in the tables: kept as it is
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "mixed-rps.png").read_bytes() == b"measured per second"
    for kind in ("latency", "failures"):
        assert (tmp_path / f"mixed-{kind}.png").read_bytes().startswith(b"\x89PNG")
    section = path.read_text(encoding="utf-8").split("## Plots\n", 1)[1].splitlines()
    captions = [line for line in section if line.startswith("*")]
    assert len(captions) == 3
    assert main([str(tmp_path)]) == 0  # a second pass changes nothing in the text
    assert path.read_text(encoding="utf-8").count("## Plots") == 1


def test_a_report_it_cannot_read_is_left_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = written(tmp_path, ScenarioName.mixed, [[r] for r in mixed_runs()], ("latency",))
    mangled = path.read_text(encoding="utf-8").replace("## Per endpoint", "## Endpoints")
    path.write_text(mangled, encoding="utf-8")
    assert main([str(tmp_path)]) == 1
    assert f"error: {path}: cannot read its figures back: no table under '## Per endpoint'" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == mangled
    assert not (tmp_path / "mixed-latency.png").exists()


def test_a_directory_without_reports_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "error: no bench report" in capsys.readouterr().err


def test_every_published_report_can_be_redrawn() -> None:
    published = list(reports(DOCS_BENCH))
    assert {report.scenario for report in published} == {name.value for name in ScenarioName}
    for report in published:
        assert figures(report), report.path
