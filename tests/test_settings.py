"""Settings are checked where they are defined, and a bad one is explained in the user's words."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from webduo.settings import Settings, settings_problems


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(f"WEBDUO_{name.upper()}", value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    return settings_problems(caught.value)


def test_every_problem_is_one_line_naming_the_flag_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(
        monkeypatch,
        sync_port="70000",
        workers="0",
        threads="many",
        log_level="verbose",
        weather_url="notaurl",
        weather_retries="11",
        head_timeout="inf",
        weather_cache_ttl="-1",
    ) == [
        "--port / WEBDUO_SYNC_PORT: must be 0-65535, got 70000",
        "--log-level / WEBDUO_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR (in any case), got verbose",
        "WEBDUO_HEAD_TIMEOUT: must be a finite number, got inf",
        "--workers / WEBDUO_WORKERS: must be more than 0, got 0",
        "--threads / WEBDUO_THREADS: must be a whole number, got many",
        "--weather-url / WEBDUO_WEATHER_URL: must be an http:// or https:// URL, got notaurl",
        "WEBDUO_WEATHER_RETRIES: must be 0-10, got 11",
        "WEBDUO_WEATHER_CACHE_TTL: must be at least 0, got -1",
    ]


def test_a_value_that_would_hide_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(monkeypatch, custom_header_value="x\r\nInjected: 1") == [
        "WEBDUO_CUSTOM_HEADER_VALUE: must be visible ASCII, spaces and tabs, with no space at either end,"
        " got 'x\\r\\nInjected: 1'"
    ]


@pytest.mark.parametrize("given", ["debug", "Warning", "ERROR", "info"])
def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    typed_by_a_user: dict[str, Any] = {"log_level": given}
    assert Settings(_env_file=None, **typed_by_a_user).log_level == given.upper()
    monkeypatch.setenv("WEBDUO_LOG_LEVEL", given)
    assert Settings(_env_file=None).log_level == given.upper()


@pytest.mark.parametrize(
    "name",
    [
        "Bad Name",
        "",
        "X-Föö",
        "X:Y",
        "Content-Length",
        "transfer-encoding",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Connection",
        "Host",
        "Date",
        "Server",
        "Content-Type",
        "x-request-id",
    ],
)
def test_custom_header_name_must_be_a_token_the_server_does_not_own(name: str) -> None:
    with pytest.raises(ValidationError, match="custom_header_name"):
        Settings(_env_file=None, custom_header_name=name)


@pytest.mark.parametrize("name", ["X-Served-By", "x_custom", "X-A.B~c!", "Via"])
def test_custom_header_name_accepts_tokens(name: str) -> None:
    assert Settings(_env_file=None, custom_header_name=name).custom_header_name == name


@pytest.mark.parametrize("value", ["x\r\nInjected: 1", "a\nb", "nul\x00", " leading", "trailing\t", "é", "\x7f"])
def test_custom_header_value_must_be_visible_ascii(value: str) -> None:
    with pytest.raises(ValidationError, match="custom_header_value"):
        Settings(_env_file=None, custom_header_value=value)


@pytest.mark.parametrize("value", ["webduo (test)", "a\tb", "!", "~x~"])
def test_custom_header_value_accepts_visible_ascii_with_inner_blanks(value: str) -> None:
    assert Settings(_env_file=None, custom_header_value=value).header_value_for("sync") == value


@pytest.mark.parametrize("url", ["notaurl", "ftp://example.com/v1/forecast", "http://", "//example.com/x", ""])
def test_upstream_urls_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="weather_url"):
        Settings(_env_file=None, weather_url=url)
    with pytest.raises(ValidationError, match="geocoding_url"):
        Settings(_env_file=None, geocoding_url=url)


def test_every_setting_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert field.description.endswith("."), name


@pytest.mark.parametrize(
    "url", ["http://cache:6379/0", "redis://", "redis:///0", "redis://cache:6379/zero", "redis://cache:99999/0", "x"]
)
def test_cache_url_must_be_a_redis_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    (problem,) = problems(monkeypatch, cache_url=url)
    assert problem.startswith("WEBDUO_CACHE_URL: must be redis://host:port/db")


@pytest.mark.parametrize("url", ["redis://cache:6379/0", "rediss://:secret@cache:6380/2", "redis://127.0.0.1"])
def test_cache_url_accepts_redis_urls(url: str) -> None:
    assert Settings(_env_file=None, cache_url=url).cache_url == url


def test_an_empty_cache_url_means_no_shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBDUO_CACHE_URL", "")
    assert Settings(_env_file=None).cache_url is None
