"""Console logging through rich, configured once per process.

rich's ``RichHandler`` lays every record out as a table: ~400 µs a line, measured, which at
INFO made the access log the bottleneck of both engines (sync ``--workers 2``: 27k -> 1.7k
requests/s). :class:`ConsoleHandler` keeps rich's look — time, coloured level, message — but
renders the styles once, up front, through rich, and writes each ordinary line as one string
(~10 µs). A record with a traceback gets rich's traceback on a terminal, where a person
reads it; elsewhere the plain one: rich's takes ~20 ms to render against ~2 ms, and on the
event loop that time stalls every other request (/error_task under load showed it).
"""

from __future__ import annotations

import logging
import time
from typing import Final

from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text


LEVEL_STYLES: Final = {
    "DEBUG": "green",
    "INFO": "blue",
    "WARNING": "yellow",
    "ERROR": "bold red",
    "CRITICAL": "bold reverse red",
}


class ConsoleHandler(logging.Handler):
    """``[12:34:56] INFO     [engine] logger: message`` per record, styled by rich when stderr is a terminal."""

    def __init__(self, console: Console, prefix: str = "") -> None:
        super().__init__()
        self.console = console
        self.prefix = prefix
        self.levels = {name: self._styled(f"{name:<8}", style) for name, style in LEVEL_STYLES.items()}
        self.rich = RichHandler(
            console=console, show_path=False, rich_tracebacks=True, log_time_format="[%X]", markup=False
        )
        self.rich.setFormatter(logging.Formatter(prefix + "%(name)s: %(message)s"))
        self.plain = logging.Formatter()

    def _styled(self, text: str, style: str) -> str:
        """``text`` as rich would print it on this console: ANSI codes on a terminal, plain otherwise."""
        with self.console.capture() as captured:
            self.console.print(Text(text, style=style), end="", soft_wrap=True)
        return captured.get()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and self.console.is_terminal:
            self.rich.emit(record)
            return
        try:
            clock = time.strftime("%H:%M:%S", time.localtime(record.created))
            level = self.levels.get(record.levelname) or f"{record.levelname:<8}"
            line = f"[{clock}] {level} {self.prefix}{record.name}: {record.getMessage()}\n"
            if record.exc_info:
                line += self.plain.formatException(record.exc_info) + "\n"
            self.console.file.write(line)
            self.console.file.flush()
        except Exception:
            self.handleError(record)


def configure_logging(level: str, engine: str = "") -> None:
    """Route every log record (the access log included) to stderr, styled by rich."""
    console = Console(stderr=True)
    if not console.is_terminal:
        # Piped to a file or a collector: one record per line beats wrapping at 80 columns.
        console = Console(stderr=True, width=240)
    root = logging.getLogger()
    root.handlers[:] = [ConsoleHandler(console, f"[{engine}] " if engine else "")]
    root.setLevel(level)
