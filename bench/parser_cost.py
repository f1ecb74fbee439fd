"""What one request costs the sans-IO HTTP/1.1 parser, for four representative heads.

One "parse" is what an engine does per keep-alive request: ``feed`` the bytes, ``next_event``
until ``NEED_DATA``, and ``Message.to_request``, on one parser kept across requests.

Two measures, both from the worktree root::

    .venv/bin/python bench/parser_cost.py                  # timeit: best-of-7 microseconds a parse
    .venv/bin/python bench/parser_cost.py --callgrind      # instructions a parse (valgrind, 5-15 min)
    .venv/bin/python bench/parser_cost.py --loops 20000 --head wrk   # one plain run (what valgrind runs)

``--callgrind`` runs this script under ``valgrind --tool=callgrind`` twice per head, with
``--loops 0`` and ``--loops N``, and divides the difference in instructions ("Collected") by N:
interpreter start-up and imports cancel out, and the count does not depend on the machine's
load, unlike the timings. Not a test: the numbers belong to the machine and the Python build.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import timeit
from typing import Final

from webduo.engines.http1.parser import NEED_DATA, Message, RequestParser


HEADS: Final[dict[str, bytes]] = {
    # What wrk sends for `wrk http://127.0.0.1:8002/hello`.
    "wrk": b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8002\r\n\r\n",
    "curl": (
        b"GET /hello?name=world HTTP/1.1\r\nHost: localhost:8002\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
    ),
    "browser": (
        b"GET /weather?city=Paris HTTP/1.1\r\n"
        b"Host: localhost:8002\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
        b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        b"Accept-Language: en-US,en;q=0.5\r\n"
        b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
        b"Connection: keep-alive\r\n"
        b"Upgrade-Insecure-Requests: 1\r\n"
        b"Sec-Fetch-Dest: document\r\n"
        b"Sec-Fetch-Mode: navigate\r\n"
        b"Sec-Fetch-Site: none\r\n"
        b"Priority: u=0, i\r\n"
        b"\r\n"
    ),
    "post": (
        b"POST /echo HTTP/1.1\r\nHost: localhost:8002\r\nUser-Agent: python-httpx/0.28.1\r\n"
        b"Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
        b"Content-Type: application/json\r\nContent-Length: 17\r\n\r\n"
        b'{"hello":"world"}'
    ),
}
_COLLECTED: Final = re.compile(r"Collected\s*:\s*(\d+)")


def parse_loop(data: bytes, loops: int) -> None:
    """Parse ``data`` ``loops`` times on one parser, as a keep-alive connection would."""
    parser = RequestParser()
    for _ in range(loops):
        parser.feed(data)
        while (event := parser.next_event()) is not NEED_DATA:
            if isinstance(event, Message):
                event.to_request("127.0.0.1:50000")


def check() -> None:
    """Every head must parse to one message, so that no number measures an error path."""
    for name, data in HEADS.items():
        parser = RequestParser()
        parser.feed(data)
        event = parser.next_event()
        if not isinstance(event, Message) or parser.buffered:
            raise SystemExit(f"head {name!r} does not parse to exactly one message: {event!r}")


def microseconds(data: bytes, number: int = 20_000, repeat: int = 7) -> float:
    best = min(timeit.repeat(lambda: parse_loop(data, number), number=1, repeat=repeat))
    return best / number * 1e6


def instructions(name: str, loops: int) -> int:
    """Instructions ``loops`` parses of one head cost, start-up subtracted (see the docstring)."""
    counts = []
    for n in (0, loops):
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--loops",
                str(n),
                "--head",
                name,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        match = _COLLECTED.search(run.stderr)
        if match is None:
            raise SystemExit(f"no instruction count in valgrind's output:\n{run.stderr}")
        counts.append(int(match.group(1)))
    return (counts[1] - counts[0]) // loops


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    cli.add_argument("--loops", type=int, help="just parse --head this many times (what valgrind runs)")
    cli.add_argument("--head", choices=sorted(HEADS), help="the head for --loops")
    args = cli.parse_args()
    if args.loops is not None:
        parse_loop(HEADS[args.head or "wrk"], args.loops)
        return
    check()
    if args.callgrind:
        print("| head | bytes | instructions / parse |\n| --- | ---: | ---: |")
        for name, data in HEADS.items():
            print(f"| {name} | {len(data)} | {instructions(name, 20_000):,} |", flush=True)
    else:
        print("| head | bytes | µs / parse (best of 7 x 20k) |\n| --- | ---: | ---: |")
        for name, data in HEADS.items():
            print(f"| {name} | {len(data)} | {microseconds(data):.2f} |", flush=True)


if __name__ == "__main__":
    main()
