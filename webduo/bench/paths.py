"""Where a bench writes its results, checked before anything starts: a bad path is a usage error."""

from __future__ import annotations

import os
from pathlib import Path


def output_problem(out: Path) -> str | None:
    """Why the bench cannot write its reports under ``out``, or ``None`` when it can.

    Nothing is created: the directory is made only once the run really starts. The nearest
    existing ancestor decides, as that is where the directories would be made.
    """
    if out.exists() and not out.is_dir():
        return f"{out} exists and is not a directory"
    existing = next(path for path in (out.absolute(), *out.absolute().parents) if path.exists())
    if not existing.is_dir():
        return f"{existing} is not a directory"
    # access() also reports a read-only file system, which permission bits do not show.
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing}"
    return None
