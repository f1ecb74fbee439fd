"""The docs document what exists: every setting, every route, every command and option.

A setting, a route or a subcommand added without a word in the docs fails here, so the
newcomer's reference cannot silently fall behind the code. The README is the front door
(routes and commands in short, links); the reference lives in docs/. The settings reference
is generated (``make docs``): what is checked for it is that the committed copy is what the
code generates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest
import typer.main

from webduo.cli import app
from webduo.core.routes import build_routes
from webduo.docs.generated import stale
from webduo.settings import Settings
from webduo.settings_help import FLAG_HELP


ROOT: Final = Path(__file__).resolve().parent.parent
README: Final = ROOT / "README.md"
DOCS: Final = ROOT / "docs"
SETTINGS_DOC: Final = ROOT / "docs" / "settings.md"
# bench's own options: they configure the servers it starts, with defaults of its own.
BENCH_OPTIONS: Final = frozenset({"--workers", "--threads", "--weather-url"})


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_generated_docs_are_what_the_code_generates_now() -> None:
    assert not stale(), f"stale generated docs, run make docs: {[str(path) for path in stale()]}"


def test_every_setting_has_a_row_in_the_settings_reference() -> None:
    rows = re.findall(r"^\| `(WEBDUO_[A-Z0-9_]+)` \|", SETTINGS_DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert rows == [f"WEBDUO_{name.upper()}" for name in Settings.model_fields]


def test_readme_links_to_the_settings_reference(readme: str) -> None:
    assert "(docs/settings.md)" in readme


def test_a_flag_that_sets_a_setting_shows_its_description() -> None:
    group = typer.main.get_group(app)
    # Typer bundles its own click, so options are told apart by their opts, not by class.
    mapped = [
        (f"webduo {name} {flag}", getattr(option, "help", None), FLAG_HELP[flag])
        for name, command in group.commands.items()
        for option in command.params
        for flag in option.opts
        if flag in FLAG_HELP and not (name == "bench" and flag in BENCH_OPTIONS)
    ]
    assert len(mapped) >= len(FLAG_HELP), f"some settings flags are on no command: {mapped}"
    differing = [where for where, shown, wanted in mapped if shown != wanted]
    assert not differing, f"flags that set a setting but do not show its help from webduo.settings_help: {differing}"


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


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_plot_in_the_docs_has_a_one_line_caption() -> None:
    # The convention: the image, a blank line, then the caption in italics on one line.
    uncaptioned = []
    for path in markdown_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not line.startswith("!["):
                continue
            blank, caption, end = [*lines[number + 1 : number + 4], "", "", ""][:3]
            if blank or not (len(caption) > 2 and caption[0] == caption[-1] == "*") or end:
                uncaptioned.append(f"{path.relative_to(ROOT)}:{number + 1}")
    assert not uncaptioned, f"plots without a one-line caption under them: {uncaptioned}"


def test_the_docs_index_links_every_page_and_only_pages_that_exist() -> None:
    index = ROOT / "docs" / "README.md"
    targets = {
        (index.parent / target).resolve()
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", index.read_text(encoding="utf-8"))
    }
    broken = sorted(str(target.relative_to(ROOT)) for target in targets if not target.exists())
    assert not broken, f"docs/README.md links to missing files: {broken}"
    pages = {page.resolve() for page in (ROOT / "docs").rglob("*.md")} - {index}
    unlisted = sorted(str(page.relative_to(ROOT)) for page in pages - targets)
    assert not unlisted, f"pages under docs/ that docs/README.md does not list: {unlisted}"
