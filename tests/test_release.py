"""What CONTRIBUTING's release steps rely on: one version everywhere, and a changelog in shape."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from webduo import __version__


ROOT: Final = Path(__file__).resolve().parent.parent


def pyproject_version() -> str:
    match = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_the_version_set_in_pyproject_is_the_one_locked_and_installed() -> None:
    locked = re.search(
        r'^\[\[package\]\]\nname = "webduo"\nversion = "([^"]+)"$',
        (ROOT / "uv.lock").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert locked is not None
    assert (pyproject_version(), locked.group(1)) == (__version__, __version__), "run: .tools/bin/uv version X.Y.Z"


def test_the_changelog_opens_with_unreleased_then_dated_versions() -> None:
    headings = re.findall(r"^## (.*)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert headings[0] == "[Unreleased]"
    versions = headings[1:]
    assert versions, "no released version"
    malformed = [heading for heading in versions if not re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", heading)]
    assert not malformed, f"release headings must read [X.Y.Z] - YYYY-MM-DD: {malformed}"
    # Bumped together at a release; in between, pyproject.toml keeps the last one released.
    assert versions[0].startswith(f"[{pyproject_version()}] "), "the newest release is not pyproject's version"
