"""``webduo openapi``: the served document on stdout or in a file; a bad path is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from webduo.core.openapi import build_document, render
from webduo.core.routes import build_routes


def webduo(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "webduo", *args], capture_output=True, timeout=30)


def test_the_cli_prints_the_served_document() -> None:
    result = webduo("openapi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == render(build_document(build_routes(), "X-Powered-By"))


def test_the_cli_writes_the_document_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    result = webduo("openapi", "--out", str(out))
    assert (result.returncode, result.stdout) == (0, b"")
    assert out.read_bytes() == render(build_document(build_routes(), "X-Powered-By"))


@pytest.mark.parametrize("target", ["missing-dir/openapi.json", "."])
def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path: Path, target: str) -> None:
    result = webduo("openapi", "--out", str(tmp_path / target))
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot write")
