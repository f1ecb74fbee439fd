"""The docs document what exists: every setting, every route, every command and option.

A setting, a route or a subcommand added without a word in the docs fails here, so the
newcomer's reference cannot silently fall behind the code. The README is the front door
(routes and commands in short, links); the reference lives in docs/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest
import typer.main

from webduo.cli import app
from webduo.core.routes import build_routes
from webduo.settings import Settings


ROOT: Final = Path(__file__).resolve().parent.parent
README: Final = ROOT / "README.md"
DOCS: Final = ROOT / "docs"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def settings_table_rows(text: str) -> dict[str, str]:
    """``WEBDUO_*`` name -> its default cell, from the README's table rows that start with one."""
    rows: dict[str, str] = {}
    for match in re.finditer(r"^\| `(WEBDUO_[A-Z0-9_]+)` \| ([^|]+) \|", text, flags=re.MULTILINE):
        rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_setting_has_a_row_in_the_settings_table() -> None:
    documented = settings_table_rows(doc("settings.md"))
    expected = {f"WEBDUO_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(expected - set(documented))
    assert not missing, f"settings without a row in docs/settings.md: {missing}"
    stale = sorted(set(documented) - expected)
    assert not stale, f"docs/settings.md documents settings that do not exist: {stale}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_settings_table_shows_the_real_default(name: str) -> None:
    default = Settings.model_fields[name].default
    cell = settings_table_rows(doc("settings.md"))[f"WEBDUO_{name.upper()}"]
    if default is None:
        return  # computed at run time (the custom header's value): described in words
    shown = re.sub(r"\s*\(.*?\)|\s*s$", "", cell).strip("`")
    assert shown == str(default), f"WEBDUO_{name.upper()}: the docs say {cell!r}, the code says {default!r}"


@pytest.mark.parametrize("where", ["README.md", "docs/endpoints.md"])
def test_every_route_is_documented(where: str) -> None:
    text = (ROOT / where).read_text(encoding="utf-8")
    missing = [
        f"{route.method} {route.path}" for route in build_routes() if f"`{route.method} {route.path}" not in text
    ]
    assert not missing, f"routes without an entry in {where}: {missing}"


def test_every_command_is_in_the_readme_and_every_option_in_the_cli_doc(readme: str) -> None:
    reference = doc("cli.md")
    group = typer.main.get_group(app)
    missing = [f"webduo {option}" for parameter in group.params for option in parameter.opts if option not in reference]
    for name, command in group.commands.items():
        if f"webduo {name}" not in readme:
            missing.append(f"webduo {name} (README)")
        missing += [
            f"webduo {name} {option}"
            for parameter in command.params
            for option in parameter.opts
            if option != "--help" and f"`{option}`" not in reference
        ]
    assert not missing, f"CLI commands or options missing from the docs: {missing}"


PAGES: Final = [README, *sorted(DOCS.rglob("*.md")), ROOT / "CONTRIBUTING.md"]


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_links_to_files_in_the_repository_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = {target.split("#", 1)[0] for target in re.findall(r"\]\(([^)#:\s]+(?:#[^)]*)?)\)", text)}
    broken = sorted(target for target in targets if target and not (page.parent / target).exists())
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_the_readme_stays_a_front_door(readme: str) -> None:
    assert len(readme.splitlines()) <= 300
