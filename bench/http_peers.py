"""GET /hello under ``wrk``, side by side: webduo's engines against the servers people compare them with.

Run from the repository root (loopback only, every run bounded; ~4 minutes with the defaults)::

    .venv/bin/python bench/http_peers.py [--duration 5] [--rounds 3] [--connections 64] [--only async1,aiohttp1]
    .venv/bin/python bench/http_peers.py --only async1,aiohttp1 --baseline ../webduo-0.1.0   # before/after

Targets: webduo sync ``--workers 2``; gunicorn ``-w 2`` sync and gthread ``--threads 4`` serving a
tiny WSGI app; the standard library's ``ThreadingHTTPServer``; webduo async with 1 and 2
processes; bare aiohttp with 1 and 2 ``reuse_port`` processes. All selected targets run at once;
each round measures each of them in turn with ``wrk -t1`` after a short warm-up, so a machine
that is busier in one minute than the next tilts no comparison. The table shows the median round
per target and the ratios the issues set as goals. ``--baseline DIR`` adds every selected webduo
target again, run from another checkout (e.g. a ``git worktree`` of the last release), so a
change is measured before and after in the same run. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from webduo.bench.processes import free_port, has_exited, start_group, stop_group, wait_until_answering


HOST: Final = "127.0.0.1"
BENCH_DIR: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH_DIR.parent
HELLO: Final = b"Hello, World!"
HELLO_HEADERS: Final = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(HELLO)))]
GOAL_SYNC_OVER_GTHREAD: Final = 1.3
GOAL_ASYNC_OVER_AIOHTTP: Final = 1.0
GOAL_MAX_LATENCY_MS: Final = 1000.0

# wrk reports through this Lua hook as one JSON line, instead of being scraped from its text.
WRK_REPORT: Final = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


# -- the peers' apps ---------------------------------------------------------------------------------


def wsgi_hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The WSGI app gunicorn serves (``--chdir bench http_peers:wsgi_hello``)."""
    start_response("200 OK", HELLO_HEADERS)
    return [HELLO]


def serve_threading_http(port: int) -> None:
    """``http.server.ThreadingHTTPServer`` answering GET /hello with keep-alive (HTTP/1.1)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            for name, value in HELLO_HEADERS:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(HELLO)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with ThreadingHTTPServer((HOST, port), Hello) as server:
        server.daemon_threads = True
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.serve_forever()


def serve_bare_aiohttp(port: int, loop: str = "asyncio") -> None:
    """One bare aiohttp process (``reuse_port``, so several can share the port), on ``loop``."""
    import asyncio

    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=HELLO, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/hello", hello)
    event_loop: asyncio.AbstractEventLoop
    if loop == "uvloop":
        import uvloop

        event_loop = uvloop.new_event_loop()
    else:
        event_loop = asyncio.new_event_loop()
    web.run_app(app, host=HOST, port=port, reuse_port=True, access_log=None, print=None, loop=event_loop)


# -- targets ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    processes: int
    commands: Callable[[int], list[list[str]]]  # port -> the commands to start, one process each
    env: tuple[tuple[str, str], ...] = ()
    expect_children: int = 0  # a master that forks this many workers
    key: str = ""
    checkout: Path = ROOT  # where webduo is imported from: this tree, or a baseline's

    def from_checkout(self, checkout: Path) -> Target:
        """The same target, running the webduo found in ``checkout``."""
        return Target(
            f"{self.name} (baseline)",
            self.processes,
            self.commands,
            (*self.env, ("PYTHONPATH", str(checkout))),
            self.expect_children,
            f"{self.key}-base",
            checkout,
        )


def webduo(mode: str, *options: str) -> Callable[[int], list[list[str]]]:
    return lambda port: [
        [sys.executable, "-m", "webduo", "serve", "--mode", mode, "--host", HOST, "--port", str(port), *options]
    ]


def gunicorn(*options: str) -> Callable[[int], list[list[str]]]:
    executable = str(Path(sys.executable).with_name("gunicorn"))

    def commands(port: int) -> list[list[str]]:
        where = ["--chdir", str(BENCH_DIR), "-b", f"{HOST}:{port}", "--log-level", "warning"]
        return [[executable, *where, *options, "http_peers:wsgi_hello"]]

    return commands


def this_script(role: str, copies: int = 1, *extra: str) -> Callable[[int], list[list[str]]]:
    return lambda port: [[sys.executable, str(Path(__file__).resolve()), role, str(port), *extra]] * copies


QUIET: Final = (("WEBDUO_LOG_LEVEL", "WARNING"),)  # no per-request access log, like the peers
# The async engine against bare aiohttp is compared only on the same event loop.
ASYNCIO: Final = (*QUIET, ("WEBDUO_LOOP", "asyncio"))
UVLOOP: Final = (*QUIET, ("WEBDUO_LOOP", "uvloop"))
# A socket per worker, as the bare aiohttp processes have (reuse_port=True), instead of one shared.
REUSE_PORT: Final = ("WEBDUO_REUSE_PORT", "1")
TARGETS: Final = (
    Target("webduo sync -w2", 2, webduo("sync", "--workers", "2"), QUIET, expect_children=2, key="sync"),
    Target("gunicorn sync -w2", 2, gunicorn("-w", "2", "-k", "sync"), expect_children=2, key="gunicorn-sync"),
    Target(
        "gunicorn gthread -w2 -t4",
        2,
        gunicorn("-w", "2", "-k", "gthread", "--threads", "4"),
        expect_children=2,
        key="gthread",
    ),
    Target("ThreadingHTTPServer", 1, this_script("serve-threading"), key="threading"),
    Target("webduo async -w1", 1, webduo("async", "--workers", "1"), ASYNCIO, key="async1"),
    Target("webduo async -w2", 2, webduo("async", "--workers", "2"), ASYNCIO, expect_children=2, key="async2"),
    Target(
        "webduo async -w2 reuse_port",
        2,
        webduo("async", "--workers", "2"),
        (*ASYNCIO, REUSE_PORT),
        expect_children=2,
        key="async2-rp",
    ),
    Target("aiohttp bare x1", 1, this_script("serve-aiohttp"), key="aiohttp1"),
    Target("aiohttp bare x2", 2, this_script("serve-aiohttp", 2), key="aiohttp2"),
    Target("webduo async -w1 uvloop", 1, webduo("async", "--workers", "1"), UVLOOP, key="async1-uv"),
    Target("webduo async -w2 uvloop", 2, webduo("async", "--workers", "2"), UVLOOP, expect_children=2, key="async2-uv"),
    Target(
        "webduo async -w2 uvloop reuse_port",
        2,
        webduo("async", "--workers", "2"),
        (*UVLOOP, REUSE_PORT),
        expect_children=2,
        key="async2-rp-uv",
    ),
    Target("aiohttp bare x1 uvloop", 1, this_script("serve-aiohttp", 1, "uvloop"), key="aiohttp1-uv"),
    Target("aiohttp bare x2 uvloop", 2, this_script("serve-aiohttp", 2, "uvloop"), key="aiohttp2-uv"),
)
KEYS: Final = tuple(target.key for target in TARGETS)


@dataclass(frozen=True)
class Result:
    target: Target
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    cpu_us: float  # server CPU time (user + system, every process of the target) per request

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


# -- running ----------------------------------------------------------------------------------------------


def worker_children(pid: int) -> list[int]:
    """Child processes of ``pid`` that serve HTTP: not the spawned CPU-pool processes (multiprocessing)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(child) for child in path.read_text().split()] if path.exists() else []
    return [child for child in children if b"multiprocessing" not in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of ``pids`` and all their descendants, from /proc (0 where unreadable)."""
    total = 0.0
    seen: set[int] = set()
    pending = list(pids)
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            pending += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@contextmanager
def running(target: Target, port: int, logs: Path) -> Iterator[list[int]]:
    """Start ``target`` on ``port``, each process leading its own group; every group is stopped on exit."""
    env = {**os.environ, **dict(target.env)}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in target.commands(port):
            log = logs / f"{target.key}-{len(processes)}.log"
            processes.append(start_group(command, log, env, cwd=target.checkout))
        wait_until_answering(f"http://{HOST}:{port}/hello", processes[0], logs / f"{target.key}-0.log")
        if any(has_exited(process) for process in processes):
            raise RuntimeError(f"{target.name}: a process exited while the first one started")
        if target.expect_children:
            time.sleep(0.5)  # let the master fork the rest
            if not worker_children(processes[0].pid):
                raise RuntimeError(f"{target.name}: expected {target.expect_children} worker processes")
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            stop_group(process)


def wrk(port: int, connections: int, seconds: float, script: Path, threads: int = 1) -> dict[str, int]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script)]
    output = subprocess.run(
        [*command, f"http://{HOST}:{port}/hello"], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    report = next(line for line in reversed(output.splitlines()) if line.startswith("{"))
    parsed: dict[str, int] = json.loads(report)
    return parsed


def measure(target: Target, port: int, pids: list[int], connections: int, seconds: float, script: Path) -> Result:
    """One wrk run after a warm-up; also the servers' CPU time per request.

    CPU per request is the steadier figure on a shared machine: another job's load shifts
    requests/s a lot, but the work a request costs the server far less.
    """
    wrk(port, connections, 1, script)  # warm-up: caches, TCP slow start, the other targets' leftovers
    cpu_before = cpu_seconds(pids)
    report = wrk(port, connections, seconds, script)
    cpu = cpu_seconds(pids) - cpu_before
    errors = {kind: report[kind] for kind in ("connect", "read", "write", "status", "timeout") if report[kind]}
    return Result(
        target,
        rps=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        max_ms=report["max_us"] / 1000,
        errors=errors,
        cpu_us=cpu / max(report["requests"], 1) * 1e6,
    )


def median(results: Sequence[Result]) -> Result:
    """The round with the median throughput (the lower middle one for an even count)."""
    return sorted(results, key=lambda result: result.rps)[(len(results) - 1) // 2]


def ensure_wrk() -> None:
    """wrk is a Debian package; install it when we may, else say how."""
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk with apt-get ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update"], check=True, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: sudo apt-get install -y wrk")


# -- reporting --------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {wrk_version.strip()}"
    )


def table(rounds: Sequence[dict[str, Result]], connections: int, seconds: float) -> str:
    """The median round of each target, every round's req/s, and the goals, measured round by round."""
    keys = list(rounds[0])
    by_key = {key: median([one[key] for one in rounds]) for key in keys}
    gthread = by_key.get("gthread")
    lines = [
        f"GET /hello, {connections} connections, wrk -t1, {seconds:g} s per target per round, "
        f"{len(rounds)} interleaved round(s), median round shown (loopback)",
        "",
        "| target | procs | req/s | every round | CPU µs/req | p50 ms | p99 ms | max ms | errors | vs gthread |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for key, result in by_key.items():
        ratio = f"{result.rps / gthread.rps:.2f}x" if gthread else "-"
        errors = ", ".join(f"{kind} {count}" for kind, count in result.errors.items()) or "0"
        each = " / ".join(f"{one[key].rps:,.0f}" for one in rounds)
        lines.append(
            f"| {result.target.name} | {result.target.processes} | {result.rps:,.0f} | {each} | {result.cpu_us:.0f} | "
            f"{result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.max_ms:.1f} | {errors} | {ratio} |"
        )
    lines += ["", *goals(rounds)]
    return "\n".join(lines)


def ratios(rounds: Sequence[dict[str, Result]], ours: str, theirs: str) -> list[float]:
    """``ours / theirs`` in each round where both ran: the two were measured minutes apart at most."""
    return [one[ours].rps / one[theirs].rps for one in rounds if ours in one and theirs in one]


def goals(rounds: Sequence[dict[str, Result]]) -> list[str]:
    lines = [""]
    sync_gthread = ratios(rounds, "sync", "gthread")
    if sync_gthread:
        sync = median([one["sync"] for one in rounds])
        ratio = sorted(sync_gthread)[(len(sync_gthread) - 1) // 2]
        starved = sync.max_ms >= GOAL_MAX_LATENCY_MS or "timeout" in sync.errors
        verdict = "met" if ratio >= GOAL_SYNC_OVER_GTHREAD and not starved else "MISSED"
        lines.append(
            f"- goal webduo sync -w2 >= {GOAL_SYNC_OVER_GTHREAD}x gunicorn gthread -w2 -t4, max latency < 1 s, "
            f"no timeouts: {ratio:.2f}x (median of rounds), max {sync.max_ms:.0f} ms, "
            f"timeouts {sync.errors.get('timeout', 0)} -> {verdict}"
        )
    for processes, sockets in ((1, ""), (2, ""), (2, "-rp")):
        for loop in ("", "-uv"):
            for suffix in ("", "-base"):
                per_round = ratios(rounds, f"async{processes}{sockets}{loop}{suffix}", f"aiohttp{processes}{loop}")
                if not per_round:
                    continue
                middle = sorted(per_round)[(len(per_round) - 1) // 2]
                verdict = "met" if middle >= GOAL_ASYNC_OVER_AIOHTTP else "MISSED"
                shown = ", ".join(f"{ratio:.2f}" for ratio in per_round)
                which = (" uvloop" if loop else " asyncio") + (" reuse_port" if sockets else "")
                which += " (baseline)" if suffix else ""
                lines.append(
                    f"- goal webduo async x{processes}{which} >= {GOAL_ASYNC_OVER_AIOHTTP}x bare aiohttp "
                    f"x{processes} on the same loop: {middle:.2f}x median of rounds ({shown}) -> {verdict}"
                )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per target per round (5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (3)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(KEYS)}")
    parser.add_argument("--baseline", type=Path, help="another webduo checkout to measure beside this one")
    args = parser.parse_args(argv)
    wanted = {key for key in args.only.split(",") if key}
    unknown = wanted - set(KEYS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 120:
        parser.error("--rounds must be 1-20 and --duration 1-120 s")
    if args.baseline is not None and not (args.baseline / "webduo" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no webduo package there")
    targets = [target for target in TARGETS if not wanted or target.key in wanted]
    if args.baseline is not None:
        baseline = args.baseline.resolve()
        # 0.1.0 has no --loop: its baseline is measured on asyncio only.
        targets += [
            target.from_checkout(baseline)
            for target in targets
            if target.name.startswith("webduo") and ("WEBDUO_LOOP", "uvloop") not in target.env
        ]
    ensure_wrk()
    rounds: list[dict[str, Result]] = []
    with tempfile.TemporaryDirectory(prefix="webduo-bench-") as scratch, ExitStack() as servers:
        script = Path(scratch) / "report.lua"
        script.write_text(WRK_REPORT)
        ports: dict[str, tuple[Target, int, list[int]]] = {}
        for target in targets:
            port = free_port()
            try:
                pids = servers.enter_context(running(target, port, Path(scratch)))
            except (RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
                print(f"   {target.name} skipped: {exc}", file=sys.stderr)
                continue
            ports[target.key] = (target, port, pids)
        for number in range(1, args.rounds + 1):
            print(f"-> round {number}/{args.rounds} ...", file=sys.stderr, flush=True)
            rounds.append(
                {
                    key: measure(target, port, pids, args.connections, args.duration, script)
                    for key, (target, port, pids) in ports.items()
                }
            )
    print(f"Machine: {machine()}\n")
    print(table(rounds, args.connections, args.duration))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-threading":
        serve_threading_http(int(sys.argv[2]))
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "serve-aiohttp":
        serve_bare_aiohttp(int(sys.argv[2]), *sys.argv[3:])
    else:
        main()
