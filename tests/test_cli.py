"""The command line as a user runs it: a real process, real signals, real exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ENGINES, run_server
from webduo import __version__
from webduo.cli import load_settings


def webduo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webduo", *args], capture_output=True, text=True, timeout=30)


def test_version() -> None:
    result = webduo("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"webduo {__version__}"


def test_help_imports_no_server_or_bench_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "webduo", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert "serve" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert imported.isdisjoint({"aiohttp", "locust", "gevent", "httpx", "matplotlib"}), imported


def test_invalid_flag_value_is_a_clean_usage_error() -> None:
    result = webduo("serve", "--mode", "async", "--workers", "0")
    assert result.returncode == 2
    assert "invalid settings" in result.stderr
    assert "Traceback" not in result.stderr


def test_flags_override_env_which_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBDUO_SYNC_PORT", raising=False)
    assert load_settings().sync_port == 8001
    monkeypatch.setenv("WEBDUO_SYNC_PORT", "9100")
    assert load_settings().sync_port == 9100
    assert load_settings(sync_port=9200).sync_port == 9200
    assert load_settings(sync_port=None).sync_port == 9100


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_server_with_exit_code_0(engine: str, signum: signal.Signals, tmp_path: Path) -> None:
    with run_server(engine, tmp_path, answering=False) as running:
        running.process.send_signal(signum)
        assert running.process.wait(timeout=15) == 0, running.log_text()
        assert "Traceback" not in running.log_text()
