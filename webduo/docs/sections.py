"""Generated sections inside hand-written files, between ``<!-- generated:<name>:start -->`` and ``:end``."""

from __future__ import annotations


class MarkerError(ValueError):
    """A file lacks a section's markers, has them twice or in the wrong order: nothing is rewritten."""


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name``: HTML comments, invisible once rendered."""
    return f"<!-- generated:{name}:start -->", f"<!-- generated:{name}:end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with whatever lies between the markers of ``name`` replaced by ``body``."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise MarkerError(f"expected one {start} and one {end}")
    head, _, rest = text.partition(start)
    _, found, tail = rest.partition(end)
    if not found:
        raise MarkerError(f"{end} comes before {start}")
    return f"{head}{start}\n{body.rstrip()}\n{end}{tail}"
