"""The README documents what exists: every setting, every route and every command.

A setting, a route or a subcommand added without a word in the README fails here, so the
newcomer's reference cannot silently fall behind the code.
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


README: Final = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def settings_table_rows(text: str) -> dict[str, str]:
    """``WEBDUO_*`` name -> its default cell, from the README's table rows that start with one."""
    rows: dict[str, str] = {}
    for match in re.finditer(r"^\| `(WEBDUO_[A-Z0-9_]+)` \| ([^|]+) \|", text, flags=re.MULTILINE):
        rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_setting_has_a_row_in_the_settings_table(readme: str) -> None:
    documented = settings_table_rows(readme)
    expected = {f"WEBDUO_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(expected - set(documented))
    assert not missing, f"settings without a row in README.md's settings table: {missing}"
    stale = sorted(set(documented) - expected)
    assert not stale, f"README.md documents settings that do not exist: {stale}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_settings_table_shows_the_real_default(readme: str, name: str) -> None:
    default = Settings.model_fields[name].default
    cell = settings_table_rows(readme)[f"WEBDUO_{name.upper()}"]
    if default is None:
        return  # computed at run time (the custom header's value): described in words
    shown = re.sub(r"\s*\(.*?\)|\s*s$", "", cell).strip("`")
    assert shown == str(default), f"WEBDUO_{name.upper()}: README says {cell!r}, the code says {default!r}"


def test_every_route_is_documented(readme: str) -> None:
    missing = [
        f"{route.method} {route.path}" for route in build_routes() if f"`{route.method} {route.path}" not in readme
    ]
    assert not missing, f"routes without an entry in README.md: {missing}"


def test_every_command_and_option_is_documented(readme: str) -> None:
    group = typer.main.get_group(app)
    missing = [f"webduo {option}" for parameter in group.params for option in parameter.opts if option not in readme]
    for name, command in group.commands.items():
        if f"webduo {name}" not in readme:
            missing.append(f"webduo {name}")
        missing += [
            f"webduo {name} {option}"
            for parameter in command.params
            for option in parameter.opts
            if option != "--help" and f"`{option}`" not in readme
        ]
    assert not missing, f"CLI commands or options missing from README.md: {missing}"


def test_links_to_files_in_the_repository_resolve(readme: str) -> None:
    root = README.parent
    targets = {target.split("#", 1)[0] for target in re.findall(r"\]\(([^)#:]+(?:#[^)]*)?)\)", readme)}
    broken = sorted(target for target in targets if not (root / target).exists())
    assert not broken, f"README.md links to missing files: {broken}"
