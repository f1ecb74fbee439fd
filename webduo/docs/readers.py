"""Which part of webduo reads each setting, found in the source rather than claimed by hand.

A module reads a setting where it says ``settings.<field>`` or ``self.settings.<field>``, or
calls a ``Settings`` method that reads ``self.<field>``. The package the module lives in says
which part that is. A hand-kept "engine" column drifted: it said the async engine ignored
three timeouts months after it started to enforce them.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from webduo.settings import Settings


PACKAGE: Final = Path(__file__).resolve().parent.parent

SYNC: Final = "sync engine"
ASYNC: Final = "async engine"
BOTH: Final = "both engines"
WEATHER: Final = "weather client"
# First match wins. Outside sync/ and aio/, engines/ holds what both engines run (the HTTP/1.1
# parser, the listener, the pre-fork master), and core/ is engine-neutral by design.
PARTS: Final = (
    ("webduo.engines.sync", SYNC),
    ("webduo.engines.aio", ASYNC),
    ("webduo.core.weather", WEATHER),
    ("webduo.engines", BOTH),
    ("webduo.core", BOTH),
)
ORDER: Final = (BOTH, SYNC, ASYNC, WEATHER)


def readers() -> dict[str, tuple[str, ...]]:
    """Field name -> the parts of webduo that read it, in :data:`ORDER`; empty if none does."""
    fields = frozenset(Settings.model_fields)
    methods = method_reads(fields)
    found: dict[str, set[str]] = {name: set() for name in Settings.model_fields}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for name in reads(ast.parse(path.read_text(encoding="utf-8")), fields, methods):
            found[name].add(part_of(module))
    return {name: merged(parts) for name, parts in found.items()}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    for prefix, part in PARTS:
        if module == prefix or module.startswith(prefix + "."):
            return part
    raise LookupError(f"{module} reads a setting, but no part of webduo.docs.readers.PARTS holds it")


def merged(parts: set[str]) -> tuple[str, ...]:
    """What both engines read is one part, however it reaches them."""
    if BOTH in parts or {SYNC, ASYNC} <= parts:
        parts = (parts - {SYNC, ASYNC}) | {BOTH}
    return tuple(part for part in ORDER if part in parts)


def method_reads(fields: frozenset[str]) -> dict[str, frozenset[str]]:
    """``Settings`` method name -> the fields it reads through ``self``."""
    settings_class = ast.parse(inspect.getsource(Settings)).body[0]
    assert isinstance(settings_class, ast.ClassDef)
    return {
        method.name: frozenset(
            node.attr
            for node in ast.walk(method)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in fields
        )
        for method in settings_class.body
        if isinstance(method, ast.FunctionDef)
    }


def reads(tree: ast.AST, fields: frozenset[str], methods: Mapping[str, frozenset[str]]) -> Iterator[str]:
    """The fields a module reads, directly or through a ``Settings`` method."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_settings(node.value)):
            continue
        if node.attr in fields:
            yield node.attr
        else:
            yield from methods.get(node.attr, ())


def _is_settings(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )
