"""The command line as a user runs it: a real process, real signals, real exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.servers import ENGINES, run_server
from webduo import __version__
from webduo.bench.processes import free_port
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
    # pydantic too: the flags' help comes from webduo.settings_help, generated from Settings, not Settings itself.
    assert imported.isdisjoint({"aiohttp", "locust", "gevent", "httpx", "matplotlib", "pydantic"}), imported


def test_help_shows_every_command_summary_whole() -> None:
    # Click cuts a summary longer than the 80-column line leaves it, mid-sentence, with "...".
    result = subprocess.run(
        [sys.executable, "-m", "webduo", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0
    commands = result.stdout.split("Commands:\n", 1)[1].splitlines()
    summaries = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1] for line in commands if line.strip()}
    assert set(summaries) == {"serve", "weather", "openapi", "bench"}
    cut = {name: text for name, text in summaries.items() if text.endswith("...") or not text.endswith(".")}
    assert not cut, f"summaries cut short in webduo --help: {cut}"


def test_invalid_flag_value_is_a_clean_usage_error() -> None:
    result = webduo("serve", "--mode", "async", "--workers", "0")
    assert (result.returncode, result.stderr) == (2, "error: --workers / WEBDUO_WORKERS: must be more than 0, got 0\n")


@pytest.mark.parametrize(("mode", "variable"), [("sync", "WEBDUO_SYNC_PORT"), ("async", "WEBDUO_ASYNC_PORT")])
def test_a_bad_port_names_the_flag_and_the_variable(mode: str, variable: str) -> None:
    result = webduo("serve", "--mode", mode, "--port", "70000")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: --port / {variable}: must be 0-65535, got 70000\n"


@pytest.mark.parametrize("mode", ["sync", "async", "both"])
def test_bad_settings_stop_every_mode_before_it_serves(mode: str) -> None:
    env = {
        **os.environ,
        "WEBDUO_CUSTOM_HEADER_NAME": "Content-Length",
        "WEBDUO_CUSTOM_HEADER_VALUE": "x\r\nInjected: 1",
        "WEBDUO_SYNC_PORT": str(free_port()),
        "WEBDUO_ASYNC_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "webduo", "serve", "--mode", mode, "--log-level", "debug"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: WEBDUO_CUSTOM_HEADER_NAME: must not be a header the server frames or sets itself, got Content-Length",
        "error: WEBDUO_CUSTOM_HEADER_VALUE: must be visible ASCII, spaces and tabs, with no space at either end,"
        " got 'x\\r\\nInjected: 1'",
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_debug_level_in_lower_case_shows_echo_content(engine: str, tmp_path: Path) -> None:
    with run_server(engine, tmp_path, args=("--log-level", "debug")) as running:
        secret = f"note-{uuid.uuid4().hex}"
        response = httpx.post(f"{running.base_url}/echo", content=secret, headers={"Content-Type": "text/plain"})
        assert response.json() == secret
        assert " DEBUG " in running.log_line(f"echo {response.headers['x-request-id']} content: '{secret}'")


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


def catches_sigterm(pid: int) -> bool:
    """Whether ``pid`` has a SIGTERM handler installed (Linux: the SigCgt mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("mode", ["sync", "async", "both"])
def test_sigterm_during_start_up_is_a_clean_stop(mode: str, tmp_path: Path) -> None:
    """A supervisor's stop during the ~1 s of imports must not kill (or, as PID 1, be lost on) the server."""
    env = {**os.environ, "WEBDUO_SYNC_PORT": str(free_port()), "WEBDUO_ASYNC_PORT": str(free_port())}
    command = [sys.executable, "-m", "webduo", "serve", "--mode", mode, "--host", "127.0.0.1"]
    with (tmp_path / "log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 10
    while not catches_sigterm(process.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, (tmp_path / "log").read_text()
