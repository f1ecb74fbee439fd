"""Console logging through rich, configured once per process."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def configure_logging(level: str, engine: str = "") -> None:
    """Route every ``webduo.*`` log line (access log included) to stderr through rich."""
    console = Console(stderr=True)
    interactive = console.is_terminal
    if not interactive:
        # Piped to a file or a collector: one record per line beats wrapping at 80 columns.
        console = Console(stderr=True, width=240)
    handler = RichHandler(
        console=console,
        show_path=False,
        # A rich traceback takes ~20 ms to render against ~2 ms for a plain one, and on the event
        # loop that time stalls every other request; it is worth it only for a person at a terminal.
        rich_tracebacks=interactive,
        log_time_format="[%X]",
        markup=False,
    )
    prefix = f"[{engine}] " if engine else ""
    handler.setFormatter(logging.Formatter(prefix + "%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
