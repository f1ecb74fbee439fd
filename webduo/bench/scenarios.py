"""What a bench run loads (scenarios) and what it loads (server configurations or a running target), as plain data."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal


Engine = Literal["sync", "async"]

# Locust's first seconds ramp the users up and its last one is cut short: steady throughput leaves
# them out. A run must keep at least two whole steady seconds, or its figures measure nothing.
RAMP_UP_SECONDS: Final = 2
MIN_DURATION_S: Final = RAMP_UP_SECONDS + 3


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server under test, as ``webduo serve`` flags; ``label`` names it in files and plots."""

    engine: Engine
    workers: int = 1
    threads: int = 1

    @property
    def label(self) -> str:
        if self.engine == "async":
            return "async" if self.workers == 1 else f"async-w{self.workers}"
        return f"sync-w{self.workers}t{self.threads}"

    @property
    def concurrency(self) -> int | None:
        """How many requests it can wait on at once, if bounded: a sync worker thread waits on one."""
        return self.workers * self.threads if self.engine == "sync" else None

    def serve_flags(self) -> list[str]:
        flags = ["--mode", self.engine, "--workers", str(self.workers)]
        return [*flags, "--threads", str(self.threads)] if self.engine == "sync" else flags

    def describe(self) -> str:
        """How the report names it: its label and the command the bench started it with."""
        return f"`{self.label}` (`webduo serve {' '.join(self.serve_flags())}`)"


@dataclass(frozen=True, slots=True)
class Target:
    """A deployment already running at ``url`` (a fleet behind nginx, say): loaded, never started."""

    url: str

    @property
    def label(self) -> str:
        return "target"

    @property
    def concurrency(self) -> int | None:
        """Unknown from outside: a sweep's ideal is then the unbounded one, users / delay."""
        return None

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    def describe(self) -> str:
        return f"`{self.label}` ({self.url}, already running: the bench started no server)"


LoadedServer = ServerConfig | Target


class ScenarioName(str, enum.Enum):
    mixed = "mixed"
    io_heavy = "io-heavy"
    cpu_heavy = "cpu-heavy"
    io_sweep = "io-sweep"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A set of locust user classes and whether the user count is swept."""

    name: ScenarioName
    title: str
    user_classes: tuple[str, ...]
    sweep: bool = False

    def user_levels(self, users: int) -> list[int]:
        """The user counts to run: just ``users``, or 1, 4, 16, ... up to ``users`` for a sweep."""
        if not self.sweep:
            return [users]
        levels = [1]
        while levels[-1] * 4 < users:
            levels.append(levels[-1] * 4)
        return levels if levels[-1] == users else [*levels, users]

    def servers(self, engines: tuple[Engine, ...], workers: int, threads: int) -> list[ServerConfig]:
        """The servers a run compares. The sweep pits a single-threaded sync worker and a
        threaded pre-fork one against one async process, whatever ``workers`` / ``threads`` say."""
        configs: list[ServerConfig] = []
        for engine in engines:
            if engine == "async":
                configs.append(ServerConfig("async"))
            elif self.sweep:
                configs += [ServerConfig("sync", 1, 1), ServerConfig("sync", 2, 4)]
            else:
                configs.append(ServerConfig("sync", workers, threads))
        return configs


SCENARIOS: dict[ScenarioName, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(ScenarioName.mixed, "Mixed traffic over every endpoint", ("MixedUser",)),
        Scenario(ScenarioName.io_heavy, "I/O-bound: /io_task, with /hello probes", ("IoUser", "HelloProbeUser")),
        Scenario(ScenarioName.cpu_heavy, "CPU-bound: /cpu_task, with /hello probes", ("CpuUser", "HelloProbeUser")),
        Scenario(ScenarioName.io_sweep, "/io_task throughput as users grow", ("IoUser",), sweep=True),
    )
}
