"""Console logging through rich, configured once per process."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def configure_logging(level: str, engine: str = "") -> None:
    """Route every ``webduo.*`` log line (access log included) to stderr through rich."""
    console = Console(stderr=True)
    if not console.is_terminal:
        # Piped to a file or a collector: one record per line beats wrapping at 80 columns.
        console = Console(stderr=True, width=240)
    handler = RichHandler(
        console=console,
        show_path=False,
        rich_tracebacks=True,
        log_time_format="[%X]",
        markup=False,
    )
    prefix = f"[{engine}] " if engine else ""
    handler.setFormatter(logging.Formatter(prefix + "%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
