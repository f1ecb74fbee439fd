"""Every file, or section of one, that the code writes, and how to tell a stale one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webduo.docs.sections import replace_section
from webduo.docs.settings_reference import flag_help_module, limits_table, settings_table


# The checkout's root: the docs are written into the source tree, next to the package.
ROOT: Final = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Generated:
    """``path`` (from the root) and ``render``, which maps its text now to what it must be."""

    path: Path
    render: Callable[[str], str]

    def texts(self) -> tuple[str, str]:
        """The text committed now, and the text the code generates now."""
        file = ROOT / self.path
        current = file.read_text(encoding="utf-8") if file.exists() else ""
        return current, self.render(current)


GENERATED: Final = (
    Generated(Path("docs/settings.md"), lambda text: replace_section(text, "settings", settings_table())),
    Generated(Path("docs/sync-engine.md"), lambda text: replace_section(text, "limits", limits_table())),
    Generated(Path("webduo/settings_help.py"), lambda _: flag_help_module()),
)


def stale() -> list[Path]:
    """The generated files whose committed text is not what the code generates now."""
    return [item.path for item in GENERATED if (texts := item.texts())[0] != texts[1]]


def regenerate() -> list[Path]:
    """Rewrite every stale generated file; return the ones rewritten."""
    written = []
    for item in GENERATED:
        current, wanted = item.texts()
        if current != wanted:
            (ROOT / item.path).write_text(wanted, encoding="utf-8")
            written.append(item.path)
    return written
