"""The startup banner both engines print: what runs, where, as which process."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel

from webduo import __version__


def print_banner(engine: str, host: str, port: int, pid: int, details: str = "") -> None:
    lines = [
        f"[bold]webduo {__version__}[/bold] — {engine} engine",
        f"listening on [cyan]http://{host}:{port}[/cyan]",
        f"pid {pid}" + (f" · {details}" if details else ""),
        "Ctrl-C or SIGTERM stops it gracefully",
    ]
    Console(stderr=True).print(Panel.fit("\n".join(lines), border_style="green" if engine == "sync" else "blue"))
