"""``python -m webduo.bench.replot DIR``: redraw the plots of the bench reports in DIR from their tables.

The published reports keep no raw locust files (``docs/bench/raw/`` is not committed: large, and
rewritten by every run), but each report's tables hold every figure that its latency, failure and
throughput plots draw, rounded as the tables show them. So a change to how plots look needs no
new load. Requests per second over time are not in the tables: those plots are left as they are.
Each report's plot section is rewritten too, so it carries the current captions.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from matplotlib.figure import Figure

from webduo.bench import plots
from webduo.bench.plots import Bars, Sweep
from webduo.bench.report import PER_ENDPOINT, SWEEP, plot_section
from webduo.bench.scenarios import SCENARIOS, LoadedServer, ScenarioName, ServerConfig, Target


IMAGE: Final = re.compile(r"^!\[[^\]]*\]\(([^)\s]+\.png)\)$", re.MULTILINE)
# As ServerConfig.describe() and Target.describe() write them in the report's "servers" line.
SERVER: Final = re.compile(r"`(?P<label>[^`]+)` \((?:`webduo serve (?P<flags>[^`]*)`|(?P<url>[^,\s]+),)")
DELAY: Final = re.compile(r"/io_task\?delay_ms=(\d+)")
# A cell ends at a "|" that is not escaped: failure messages keep theirs as "\|".
CELL_END: Final = re.compile(r"(?<!\\)\|")


class ReportError(ValueError):
    """A report whose tables do not hold what its plots need; its plots are left untouched."""


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one ``<scenario>.md`` that its plots draw."""

    path: Path
    text: str

    @property
    def scenario(self) -> str:
        return self.path.stem

    def plots(self) -> list[Path]:
        """The plots the report shows, in its order."""
        return [self.path.with_name(name) for name in IMAGE.findall(self.text)]

    def servers(self) -> list[LoadedServer]:
        line = next((line for line in self.text.splitlines() if line.startswith("- servers: ")), "")
        found = [server_of(match) for match in SERVER.finditer(line)]
        if not found:
            raise ReportError("no servers line")
        return found

    def table(self, heading: str) -> list[dict[str, str]]:
        """The rows of the table under the first ``## <heading>...``, keyed by column header."""
        for block in re.split(r"^## ", self.text, flags=re.MULTILINE)[1:]:
            title, _, body = block.partition("\n")
            if title.startswith(heading):
                rows = [cells(line) for line in body.splitlines() if line.startswith("|")]
                if len(rows) < 2:
                    break
                return [dict(zip(rows[0], row, strict=True)) for row in rows[2:]]
        raise ReportError(f"no table under '## {heading}'")

    def delay_ms(self) -> int:
        match = DELAY.search(self.text)
        if match is None:
            raise ReportError("no /io_task?delay_ms in the profile")
        return int(match.group(1))


def server_of(match: re.Match[str]) -> LoadedServer:
    if match["url"]:
        return Target(match["url"])
    words = match["flags"].split()
    flags = dict(zip(words[::2], words[1::2], strict=True))
    engine = flags.get("--mode")
    if engine not in ("sync", "async"):
        raise ReportError(f"server {match['label']}: no --mode sync or async")
    server = ServerConfig(engine, int(flags.get("--workers", "1")), int(flags.get("--threads", "1")))
    if server.label != match["label"]:
        raise ReportError(f"server {match['label']} is started as {server.label}")
    return server


def cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in CELL_END.split(line.strip())[1:-1]]


def number(cell: str) -> float:
    return math.nan if cell == "n/a" else float(cell)


def endpoint_bars(report: Report, column: str) -> Bars:
    """``column`` of the per-endpoint table, one bar per server (in the report's order) per endpoint."""
    rows = report.table(PER_ENDPOINT)
    # The table shows "GET /hello"; the plots name endpoints by path, as locust's entries do.
    value = {(row["server"], row["endpoint"].split(" ", 1)[-1]): number(row[column]) for row in rows}
    servers = tuple(report.servers())
    names = tuple(sorted({name for _, name in value}))
    values = tuple(tuple(value.get((server.label, name), math.nan) for name in names) for server in servers)
    return Bars(servers, names, values)


def sweeps(report: Report) -> list[Sweep]:
    rows = report.table(SWEEP)
    lines = []
    for server in report.servers():
        mine = [row for row in rows if row["server"] == server.label]
        users = tuple(int(row["users"]) for row in mine)
        lines.append(Sweep(server, users, tuple(number(row["steady req/s"]) for row in mine)))
    return lines


def figures(report: Report) -> dict[Path, Figure]:
    """The report's plots that its tables hold the figures of, drawn afresh (not yet saved)."""
    drawn = {}
    for path in report.plots():
        kind = plots.kind_of(path)
        if kind == "latency":
            drawn[path] = plots.latency_chart(
                {label: endpoint_bars(report, f"{label} ms") for label in plots.PERCENTILES},
                plots.title(report.scenario, kind),
            )
        elif kind == "failures":
            drawn[path] = plots.failures_chart(endpoint_bars(report, "failures"), plots.title(report.scenario, kind))
        elif kind == "throughput":
            drawn[path] = plots.throughput_chart(sweeps(report), "/io_task", report.delay_ms())
    return drawn


def with_captions(report: Report) -> str:
    """The report with its plot section, its last, written afresh."""
    head, found, _ = report.text.partition("\n## Plots\n")
    if not found:
        raise ReportError("no '## Plots' section")
    return head + "\n" + "\n".join(plot_section(report.plots()))


def reports(directory: Path) -> Iterator[Report]:
    """The scenario reports in ``directory``: ``<scenario>.md`` for each scenario's name."""
    for name in SCENARIOS:
        path = directory / f"{name.value}.md"
        if path.is_file():
            yield Report(path, path.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webduo.bench.replot", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where webduo bench wrote its reports (e.g. docs/bench)")
    directory = parser.parse_args(argv).directory
    found = list(reports(directory))
    if not found:
        names = ", ".join(f"{name.value}.md" for name in ScenarioName)
        print(f"error: no bench report ({names}) in {directory}", file=sys.stderr)
        return 2
    failed = False
    for report in found:
        try:
            # Everything is read before anything is written: a report that fails leaves its files as they were.
            drawn, text = figures(report), with_captions(report)
        except (KeyError, ValueError) as exc:  # ReportError, or a table without a column it needs
            print(f"error: {report.path}: cannot read its figures back: {exc}", file=sys.stderr)
            failed = True
            continue
        for path, figure in drawn.items():
            plots.save(figure, path)
        report.path.write_text(text, encoding="utf-8")
        print(f"{report.path}: redrew {', '.join(path.name for path in drawn) or 'nothing'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
