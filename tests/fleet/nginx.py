"""deploy/nginx/webduo.conf.template as the fleet test runs it: filled in for loopback, wrapped in a
whole nginx.conf that keeps every file nginx writes under one temporary prefix."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Final


ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATE: Final = ROOT / "deploy" / "nginx" / "webduo.conf.template"
# What the nginx image's envsubst replaces: ${NAME}, with NAME an environment variable's name.
PLACEHOLDER: Final = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
# Debian puts nginx and redis-server in sbin and bin; a non-root PATH may lack sbin.
SEARCH_PATH: Final = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def executable(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def placeholders(text: str) -> set[str]:
    """The ``${NAME}`` placeholders in ``text``."""
    return set(PLACEHOLDER.findall(text))


def render(text: str, values: Mapping[str, str | Sequence[str]]) -> str:
    """``text`` with each ``${NAME}`` filled in from ``values``.

    A name given a list repeats its line once per item: ``server ${FLEET_SYNC_SERVER} ...;`` becomes
    a line per replica, where compose's one service name stands for all of them.
    """
    missing = placeholders(text) - values.keys()
    if missing:
        raise KeyError(f"no value for {sorted(missing)}")
    lines = []
    for line in text.splitlines(keepends=True):
        lists = [name for name in PLACEHOLDER.findall(line) if not isinstance(values[name], str)]
        if len(set(lists)) > 1:
            raise ValueError(f"two lists on one line: {line.strip()}")
        items = list(values[lists[0]]) if lists else [""]
        for item in items:
            lines.append(PLACEHOLDER.sub(partial(filled, values, item), line))
    return "".join(lines)


def filled(values: Mapping[str, str | Sequence[str]], item: str, match: re.Match[str]) -> str:
    """A placeholder's value: its string, or for a list the line's ``item``."""
    value = values[match.group(1)]
    return value if isinstance(value, str) else item


def main_config(prefix: Path, snippet: Path) -> str:
    """A whole nginx.conf around ``snippet`` (an http{}-level file) for a test run.

    One worker; pid file, logs and temporary files under ``prefix``, so nothing outside it is
    written; as root the worker stays root, as it must read and write under ``prefix``.
    """
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"{temp}\n"
        f"    include {snippet};\n"
        "}\n"
    )


def nginx_command(nginx: str, prefix: Path) -> list[str]:
    """nginx in the foreground (its process group is then the test's to stop), on ``prefix`` alone."""
    return [
        nginx,
        "-p",
        str(prefix),
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(prefix / "error.log"),
        "-g",
        "daemon off;",
    ]
