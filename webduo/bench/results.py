"""One locust run's results, read from the files locust wrote.

Totals, percentiles and per-second counts come from the ``--json-file`` output: locust writes
it at shutdown, whereas its CSV files are rewritten once a second and can miss the last one.
The CSV files are kept as raw artefacts; only the failure messages are read from them.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from webduo.bench.scenarios import RAMP_UP_SECONDS, LoadedServer


EXPECTED_FAILURE_ENDPOINTS: Final = frozenset({"/error_task"})


def percentile(histogram: Mapping[int, int], fraction: float) -> float:
    """The smallest recorded time with at least ``fraction`` of the requests at or below it."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    wanted = math.ceil(total * fraction)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted:
            return float(value)
    return float(max(histogram))


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """What one endpoint did in one run; times in milliseconds."""

    method: str
    name: str
    requests: int
    failures: int
    per_second: Mapping[int, int]
    response_times: Mapping[int, int]

    @classmethod
    def from_locust(cls, entry: Mapping[str, Any]) -> EndpointStats:
        return cls(
            method=str(entry["method"] or ""),
            name=str(entry["name"]),
            requests=int(entry["num_requests"]),
            failures=int(entry["num_failures"]),
            per_second={int(second): int(count) for second, count in entry["num_reqs_per_sec"].items()},
            response_times={int(ms): int(count) for ms, count in entry["response_times"].items()},
        )

    @classmethod
    def merged(cls, name: str, parts: Iterable[EndpointStats]) -> EndpointStats:
        """All of ``parts`` as one entry (locust's "Aggregated" row)."""
        parts = list(parts)
        per_second: Counter[int] = Counter()
        response_times: Counter[int] = Counter()
        for part in parts:
            per_second.update(part.per_second)
            response_times.update(part.response_times)
        return cls(
            method="",
            name=name,
            requests=sum(part.requests for part in parts),
            failures=sum(part.failures for part in parts),
            per_second=dict(per_second),
            response_times=dict(response_times),
        )

    @property
    def p50(self) -> float:
        return percentile(self.response_times, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.response_times, 0.95)

    @property
    def p99(self) -> float:
        return percentile(self.response_times, 0.99)

    @property
    def slowest(self) -> float:
        """The longest response: a stall shows here before it moves a percentile."""
        return float(max(self.response_times)) if self.response_times else math.nan

    @property
    def label(self) -> str:
        return f"{self.method} {self.name}".strip()

    def steady_rps(self) -> float:
        """Requests per second over the whole seconds after the ramp-up, the partial last one left out
        (a run too short to have seconds after its ramp-up keeps them)."""
        whole = sorted(self.per_second)[:-1]
        seconds = whole[RAMP_UP_SECONDS:] or whole
        if not seconds:
            return math.nan
        return sum(self.per_second[second] for second in seconds) / len(seconds)


@dataclass(frozen=True, slots=True)
class Failure:
    method: str
    name: str
    error: str
    occurrences: int


@dataclass(frozen=True, slots=True)
class RunResult:
    """One locust run against one server (or the target) at one user count."""

    server: LoadedServer
    users: int
    endpoints: tuple[EndpointStats, ...]
    failures: tuple[Failure, ...]
    directory: Path
    machine_stall_s: float = 0.0
    """The longest the bench's own 250 ms tick was late during the run: when the whole machine
    stalls, locust and the server stall together and the figures measure the machine."""

    @property
    def total(self) -> EndpointStats:
        return EndpointStats.merged("Aggregated", self.endpoints)

    def endpoint(self, name: str) -> EndpointStats | None:
        return next((entry for entry in self.endpoints if entry.name == name), None)

    def failed_endpoints(self) -> list[EndpointStats]:
        """Endpoints with failures, but for those that fail on purpose (where only a wrong answer fails)."""
        return [entry for entry in self.endpoints if entry.failures and entry.name not in EXPECTED_FAILURE_ENDPOINTS]

    def unexpected_failures(self) -> int:
        return sum(entry.failures for entry in self.failed_endpoints())

    def rps_over_time(self) -> list[tuple[int, int]]:
        """``(seconds since start, requests completed in that second)``, all endpoints together."""
        counts = self.total.per_second
        if not counts:
            return []
        start = min(counts)
        return [(second - start, counts.get(second, 0)) for second in range(start, max(counts) + 1)]


def load_run(server: LoadedServer, users: int, directory: Path, prefix: str) -> RunResult:
    """Read ``<prefix>.json`` and ``<prefix>_failures.csv`` from ``directory``."""
    entries = json.loads((directory / f"{prefix}.json").read_text())
    endpoints = tuple(sorted((EndpointStats.from_locust(entry) for entry in entries), key=lambda entry: entry.name))
    return RunResult(server, users, endpoints, read_failures(directory / f"{prefix}_failures.csv"), directory)


def read_failures(path: Path) -> tuple[Failure, ...]:
    if not path.exists():
        return ()
    with path.open(newline="") as file:
        return tuple(
            Failure(row["Method"], row["Name"], row["Error"], int(row["Occurrences"])) for row in csv.DictReader(file)
        )
