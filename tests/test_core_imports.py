"""``webduo.core`` is the engine-neutral application: it must not pull in an engine, a UI or the bench."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import webduo.core


# Imported by the engines, the CLI or the bench; never by the application they share.
FORBIDDEN = frozenset({"aiohttp", "multidict", "yarl", "rich", "typer", "locust", "matplotlib", "gevent"})
# httpx imports rich for its own command line whenever rich is installed, so rich is only
# checked in core's source, not among the modules loaded at run time.
LOADED_BY_DEPENDENCIES = frozenset({"rich"})
CORE = Path(webduo.core.__file__).parent

PROBE = """
import json, pkgutil, importlib, sys
import webduo.core
for module in pkgutil.walk_packages(webduo.core.__path__, "webduo.core."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def imported_roots(source: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_source_imports_no_engine_ui_or_bench() -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(imported_roots(path) & FORBIDDEN) for path in sorted(CORE.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_all_of_core_loads_no_engine() -> None:
    # A fresh interpreter: this test process has imported everything already.
    loaded = json.loads(subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True).stdout)
    offenders = sorted(name for name in loaded if name.split(".")[0] in FORBIDDEN - LOADED_BY_DEPENDENCIES)
    assert offenders == []
    # The probe really walked the package: the modules the engines rely on were imported.
    assert {"webduo.core.app", "webduo.core.weather.client", "webduo.core.weather.command"} <= set(loaded)


def test_the_source_check_sees_imports() -> None:
    # Guard against a check that can never fail: the stand-in, outside core, does import aiohttp.
    assert "aiohttp" in imported_roots(CORE.parent / "testing" / "openmeteo.py")
