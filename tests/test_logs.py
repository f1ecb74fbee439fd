"""The console log: one line per record, rich's tracebacks only where there is one."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from webduo.core.app import printable
from webduo.engines.logs import ConsoleHandler


def record(message: str, level: int = logging.INFO, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("webduo.access", level, __file__, 1, message, (), exc_info)


def test_plain_console_gets_one_unstyled_line_per_record() -> None:
    sink = io.StringIO()
    handler = ConsoleHandler(Console(file=sink, width=240), "[sync] ")
    handler.handle(record("GET /hello 200"))
    handler.handle(record("slow upstream", logging.WARNING))
    lines = sink.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("] INFO     [sync] webduo.access: GET /hello 200")
    assert lines[1].endswith("] WARNING  [sync] webduo.access: slow upstream")
    assert "\x1b[" not in sink.getvalue()


def test_terminal_gets_the_level_coloured() -> None:
    sink = io.StringIO()
    ConsoleHandler(Console(file=sink, force_terminal=True, color_system="standard"), "").handle(record("hi"))
    assert "\x1b[34mINFO    \x1b[0m webduo.access: hi" in sink.getvalue()


def failing_record() -> logging.LogRecord:
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        return record("boom", logging.ERROR, exc)


def test_a_traceback_on_a_terminal_is_rendered_by_rich() -> None:
    sink = io.StringIO()
    ConsoleHandler(Console(file=sink, width=120, force_terminal=True), "").handle(failing_record())
    text = sink.getvalue()
    assert "Traceback" in text
    assert "╭" in text  # rich's panel, not Python's plain format
    assert "division by zero" in text


def test_a_traceback_elsewhere_is_plain_and_follows_its_line() -> None:
    sink = io.StringIO()
    ConsoleHandler(Console(file=sink, width=120), "[async] ").handle(failing_record())
    lines = sink.getvalue().splitlines()
    assert lines[0].endswith("] ERROR    [async] webduo.access: boom")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"


def test_printable_escapes_control_characters_only() -> None:
    assert printable("/a b/ü") == "/a b/ü"
    assert printable("/x\r\ny\x00\x7f") == "/x\\x0d\\x0ay\\x00\\x7f"
