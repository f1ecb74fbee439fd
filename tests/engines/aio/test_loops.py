"""``--loop``: the async engine on asyncio's own loop and on uvloop answers alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import raw_exchange, run_server
from webduo.engines.aio.server import loop_name


REQUESTS = (
    b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-ID: loop-1\r\n\r\n"
    b"GET /hello HTTP/2.0\r\nHost: t\r\nX-Request-ID: loop-1\r\n\r\n"
)


def answers(tmp_path: Path, loop: str) -> tuple[bytes, str]:
    with run_server("async", tmp_path, {"WEBDUO_LOOP": loop}) as running:
        raw = raw_exchange(running.port, REQUESTS, timeout=5)
        banner = running.log_text()
    # Date varies from one second to the next; everything else must match.
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date: ")), banner


def test_both_loops_answer_byte_for_byte_alike(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    on_asyncio, asyncio_banner = answers(tmp_path, "asyncio")
    on_uvloop, uvloop_banner = answers(tmp_path, "uvloop")
    assert on_asyncio == on_uvloop
    assert on_asyncio.count(b"HTTP/1.1 200 OK") == 1
    assert b"HTTP/1.1 505 HTTP Version Not Supported" in on_asyncio
    assert "(asyncio)" in asyncio_banner
    assert "(uvloop)" in uvloop_banner


def test_auto_takes_uvloop_when_installed_and_asyncio_is_asyncio() -> None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        assert loop_name("auto") == "asyncio"
    else:
        assert loop_name("auto") == "uvloop"
    assert loop_name("asyncio") == "asyncio"
