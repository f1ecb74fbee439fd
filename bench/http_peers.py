"""GET /hello under ``wrk``, side by side: webduo's engines against the servers people compare them with.

Run from the repository root (takes ~2 minutes; loopback only, every run bounded)::

    .venv/bin/python bench/http_peers.py [--duration 10] [--connections 64] [--only sync,gthread]

Targets: webduo sync ``--workers 2``; gunicorn ``-w 2`` sync and gthread ``--threads 4`` serving a
tiny WSGI app; the standard library's ``ThreadingHTTPServer``; webduo async with 1 and 2
processes; bare aiohttp with 1 and 2 ``reuse_port`` processes. Each gets a short warm-up and then
one measured ``wrk`` run; the table shows requests/s, latency percentiles, errors and the ratios
the sync-engine issue sets as goals. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final


HOST: Final = "127.0.0.1"
BENCH_DIR: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH_DIR.parent
HELLO: Final = b"Hello, World!"
HELLO_HEADERS: Final = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(HELLO)))]
GOAL_SYNC_OVER_GTHREAD: Final = 1.3
GOAL_ASYNC_OVER_AIOHTTP: Final = 0.85
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


def serve_bare_aiohttp(port: int) -> None:
    """One bare aiohttp process (``reuse_port``, so several can share the port)."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=HELLO, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/hello", hello)
    web.run_app(app, host=HOST, port=port, reuse_port=True, access_log=None, print=None)


# -- targets ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    processes: int
    commands: Callable[[int], list[list[str]]]  # port -> the commands to start, one process each
    env: tuple[tuple[str, str], ...] = ()
    expect_children: int = 0  # a master that forks this many workers


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


def this_script(role: str, copies: int = 1) -> Callable[[int], list[list[str]]]:
    return lambda port: [[sys.executable, str(Path(__file__).resolve()), role, str(port)]] * copies


QUIET: Final = (("WEBDUO_LOG_LEVEL", "WARNING"),)  # no per-request access log, like the peers
TARGETS: Final = (
    Target("webduo sync -w2", 2, webduo("sync", "--workers", "2"), QUIET, expect_children=2),
    Target("gunicorn sync -w2", 2, gunicorn("-w", "2", "-k", "sync"), expect_children=2),
    Target("gunicorn gthread -w2 -t4", 2, gunicorn("-w", "2", "-k", "gthread", "--threads", "4"), expect_children=2),
    Target("ThreadingHTTPServer", 1, this_script("serve-threading")),
    Target("webduo async -w1", 1, webduo("async", "--workers", "1"), QUIET),
    Target("webduo async -w2", 2, webduo("async", "--workers", "2"), QUIET, expect_children=2),
    Target("aiohttp bare x1", 1, this_script("serve-aiohttp")),
    Target("aiohttp bare x2", 2, this_script("serve-aiohttp", copies=2)),
)
KEYS: Final = {
    "webduo sync -w2": "sync",
    "gunicorn sync -w2": "gunicorn-sync",
    "gunicorn gthread -w2 -t4": "gthread",
    "ThreadingHTTPServer": "threading",
    "webduo async -w1": "async1",
    "webduo async -w2": "async2",
    "aiohttp bare x1": "aiohttp1",
    "aiohttp bare x2": "aiohttp2",
}


@dataclass(frozen=True)
class Result:
    target: Target
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


# -- running ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until_serving(port: int, processes: Sequence[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a server exited before it listened")
        try:
            with socket.create_connection((HOST, port), timeout=1) as conn:
                conn.sendall(b"GET /hello HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if conn.recv(65536).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"nothing answered on {HOST}:{port} within {timeout} s")


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


@contextmanager
def running(target: Target, port: int, logs: Path) -> Iterator[None]:
    """Start ``target`` on ``port``; stopped with SIGTERM on exit."""
    env = {**os.environ, **dict(target.env)}
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: list[str]) -> None:
        log = (logs / f"{KEYS[target.name]}-{len(processes)}.log").open("wb")
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT))

    try:
        for command in target.commands(port):
            start(command)
        wait_until_serving(port, processes)
        if target.expect_children:
            time.sleep(0.5)  # let the master fork the rest
            if not worker_children(processes[0].pid):
                raise RuntimeError(f"{target.name}: expected {target.expect_children} worker processes")
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wrk(port: int, connections: int, seconds: float, script: Path, threads: int = 2) -> dict[str, int]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script)]
    output = subprocess.run(
        [*command, f"http://{HOST}:{port}/hello"], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    report = next(line for line in reversed(output.splitlines()) if line.startswith("{"))
    parsed: dict[str, int] = json.loads(report)
    return parsed


def measure(target: Target, connections: int, seconds: float, script: Path, logs: Path) -> Result:
    port = free_port()
    with running(target, port, logs):
        wrk(port, connections, 2, script)  # warm-up: imports, caches, TCP slow start
        report = wrk(port, connections, seconds, script)
    errors = {kind: report[kind] for kind in ("connect", "read", "write", "status", "timeout") if report[kind]}
    return Result(
        target,
        rps=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        max_ms=report["max_us"] / 1000,
        errors=errors,
    )


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


def table(results: Sequence[Result], connections: int, seconds: float) -> str:
    by_key = {KEYS[result.target.name]: result for result in results}
    gthread = by_key.get("gthread")
    lines = [
        f"GET /hello, {connections} connections, {seconds:g} s per target, wrk -t2 (loopback)",
        "",
        "| target | procs | req/s | p50 ms | p99 ms | max ms | errors | vs gthread |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for result in results:
        ratio = f"{result.rps / gthread.rps:.2f}x" if gthread else "-"
        errors = ", ".join(f"{kind} {count}" for kind, count in result.errors.items()) or "0"
        lines.append(
            f"| {result.target.name} | {result.target.processes} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.max_ms:.1f} | {errors} | {ratio} |"
        )
    lines += ["", *goals(by_key)]
    return "\n".join(lines)


def goals(by_key: dict[str, Result]) -> list[str]:
    lines = [""]
    sync, gthread = by_key.get("sync"), by_key.get("gthread")
    if sync and gthread:
        ratio = sync.rps / gthread.rps
        starved = sync.max_ms >= GOAL_MAX_LATENCY_MS or "timeout" in sync.errors
        verdict = "met" if ratio >= GOAL_SYNC_OVER_GTHREAD and not starved else "MISSED"
        lines.append(
            f"- goal webduo sync -w2 >= {GOAL_SYNC_OVER_GTHREAD}x gunicorn gthread -w2 -t4, max latency < 1 s, "
            f"no timeouts: {ratio:.2f}x, max {sync.max_ms:.0f} ms, "
            f"timeouts {sync.errors.get('timeout', 0)} -> {verdict}"
        )
    for processes in (1, 2):
        ours, bare = by_key.get(f"async{processes}"), by_key.get(f"aiohttp{processes}")
        if ours and bare:
            ratio = ours.rps / bare.rps
            verdict = "met" if ratio >= GOAL_ASYNC_OVER_AIOHTTP else "MISSED"
            lines.append(
                f"- goal webduo async x{processes} >= {GOAL_ASYNC_OVER_AIOHTTP}x bare aiohttp x{processes}: "
                f"{ratio:.2f}x -> {verdict}"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(KEYS.values())}")
    args = parser.parse_args(argv)
    wanted = {key for key in args.only.split(",") if key}
    unknown = wanted - set(KEYS.values())
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    ensure_wrk()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="webduo-bench-") as scratch:
        script = Path(scratch) / "report.lua"
        script.write_text(WRK_REPORT)
        for target in TARGETS:
            if wanted and KEYS[target.name] not in wanted:
                continue
            print(f"-> {target.name} ...", file=sys.stderr, flush=True)
            try:
                results.append(measure(target, args.connections, args.duration, script, Path(scratch)))
            except (RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
                print(f"   skipped: {exc}", file=sys.stderr)
    print(f"Machine: {machine()}\n")
    print(table(results, args.connections, args.duration))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve-threading":
        serve_threading_http(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "serve-aiohttp":
        serve_bare_aiohttp(int(sys.argv[2]))
    else:
        main()
