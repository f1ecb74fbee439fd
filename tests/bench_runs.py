"""Bench results as locust would report them, built by hand for the plot and report tests."""

from __future__ import annotations

from pathlib import Path

from webduo.bench.results import EndpointStats, RunResult
from webduo.bench.scenarios import ServerConfig


SWEEP = {ServerConfig("sync", 1, 1): 10.0, ServerConfig("sync", 2, 4): 80.0, ServerConfig("async"): None}


def run(server: ServerConfig, users: int, name: str, rps: float, times: dict[int, int]) -> RunResult:
    # Six whole seconds at ``rps``: the ramp-up and the partial last one are left out of steady_rps.
    per_second = {second: round(rps) for second in range(7)}
    entry = EndpointStats("GET", name, sum(per_second.values()), 0, per_second, times)
    return RunResult(server, users, (entry,), (), Path("."))


def sweep_runs() -> list[list[RunResult]]:
    """An /io_task sweep as measured: async follows users / 0.1 s, sync stays at its thread count."""
    return [
        [run(server, users, "/io_task", cap or users * 9.5, {100: 1}) for users in (1, 4, 16, 64)]
        for server, cap in SWEEP.items()
    ]
