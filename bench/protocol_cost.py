"""What one GET /hello costs inside an async server's protocol object, without sockets: webduo vs bare aiohttp.

Each server's asyncio protocol is fed one request at a time through a fake transport, and the
loop runs until the answer is written, so the figure covers everything the server does in
Python per request (parsing, the application, serialising, the loop turns in between) and
none of the kernel's work, which both pay alike. Run from the repository root::

    .venv/bin/python bench/protocol_cost.py                 # CPU µs per request, both servers
    .venv/bin/python bench/protocol_cost.py --callgrind     # instructions per request (valgrind)

``--callgrind`` runs each measurement twice under valgrind's callgrind with a different number
of requests and reports the difference divided by the difference in requests: start-up cancels
out, and instruction counts do not depend on what else the machine is doing, so a change can be
measured on a busy machine. Not a test; the wall-clock mode's figures belong to the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Coroutine
from typing import Any


REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
SERVERS = ("webduo", "aiohttp")


class FakeTransport(asyncio.Transport):
    """Takes whatever the server writes and counts the writes; never slows it down."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.last = b""
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        self.last = bytes(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8002)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def webduo_protocol() -> asyncio.Protocol:
    from webduo.core.app import build_app
    from webduo.core.effects import Runtime
    from webduo.core.routes import build_routes
    from webduo.engines.aio.protocol import Engine, Server
    from webduo.engines.http1.exchange import Timeouts
    from webduo.engines.http1.parser import ParserLimits
    from webduo.settings import Settings

    settings = Settings()
    app = build_app(
        build_routes(settings.custom_header_name), settings.custom_header_name, settings.header_value_for("async")
    )
    engine = Engine(app, Runtime(), ParserLimits.from_settings(settings), Timeouts.from_settings(settings))
    return Server(engine, keepalive_timeout=settings.keepalive_timeout, access_log=None)()


async def aiohttp_protocol() -> asyncio.Protocol:
    """The same one-route app ``bench/http_peers.py`` runs as "aiohttp bare"."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=b"Hello, World!", content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if runner.server is None:
        raise RuntimeError("aiohttp's runner made no server")
    return runner.server()


async def cost(server: str, requests: int) -> float:
    """CPU seconds per request, after a warm-up."""
    protocol = await (webduo_protocol() if server == "webduo" else aiohttp_protocol())
    transport = FakeTransport()
    protocol.connection_made(transport)

    async def serve(count: int) -> None:
        for _ in range(count):
            before = transport.writes
            protocol.data_received(REQUEST)
            while transport.writes == before:  # the answer may come from a task: let the loop run
                await asyncio.sleep(0)

    await serve(200)
    if not (transport.last.startswith(b"HTTP/1.1 200 OK\r\n") and transport.last.endswith(b"Hello, World!")):
        raise RuntimeError(f"{server} did not answer GET /hello: {transport.last[:200]!r}")
    started = time.process_time()
    await serve(requests)
    return (time.process_time() - started) / requests


def run(main: Coroutine[Any, Any, float], loop: str) -> float:
    if loop == "asyncio":
        return asyncio.run(main)
    import uvloop

    return uvloop.run(main)


def callgrind_instructions(server: str, requests: int, loop: str) -> int:
    """Instructions this script executes serving ``requests`` requests, under callgrind."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    done = subprocess.run(
        [*command, "--only", server, "--requests", str(requests), "--loop", loop],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{done.stderr}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests per server (20000)")
    parser.add_argument("--only", choices=SERVERS, help="one server only")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the event loop (asyncio)")
    args = parser.parse_args()
    os.environ.setdefault("WEBDUO_LOG_LEVEL", "WARNING")
    servers = [args.only] if args.only else list(SERVERS)
    for server in servers:
        if args.callgrind:
            few, many = 500, 2500
            counts = [callgrind_instructions(server, requests, args.loop) for requests in (few, many)]
            per_request = (counts[1] - counts[0]) / (many - few)
            print(f"{server:8} {per_request / 1000:7.1f}k instructions per GET /hello ({args.loop})")
        else:
            seconds = run(cost(server, args.requests), args.loop)
            print(f"{server:8} {seconds * 1e6:7.1f} µs CPU per GET /hello ({args.loop})")


if __name__ == "__main__":
    main()
