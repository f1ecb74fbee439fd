"""The shared-cache policy with no socket: each Redis reply scripted, each command checked."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from webduo.core.weather.cache import Lookup
from webduo.core.weather.errors import WeatherError
from webduo.core.weather.models import Forecast, WeatherQuery
from webduo.core.weather.recorded import recorded
from webduo.core.weather.retry import Pause
from webduo.core.weather.shared_cache import (
    RETRY_SECONDS,
    STORE_AND_RELEASE,
    Command,
    Flow,
    SharedCache,
    Unreachable,
    redacted,
)


FORECAST = Forecast.model_validate_json(recorded("openmeteo_current_example.json"))
REPORT = FORECAST.model_dump_json().encode()
PLACE = WeatherQuery.of(52.52, 13.41)
KEY = "webduo:v1:weather:52.52:13.41:metric"
TTL = 600.0
BUDGET = 12.0
TTL_MS = 600_000
LOCK_MS = 13_000  # the budget and a second to store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shared(clock: Clock | None = None) -> SharedCache:
    return SharedCache("127.0.0.1:6379/0", ttl=TTL, decimals=2, budget=BUDGET, clock=clock or Clock())


class Upstream:
    """An upstream call that takes no step; counts how often it was made."""

    def __init__(self, outcome: Forecast | WeatherError = FORECAST) -> None:
        self.outcome = outcome
        self.calls = 0

    def fetch(self) -> Flow[Forecast]:
        yield from ()  # a generator, like the retry plan's steps
        self.calls += 1
        if isinstance(self.outcome, WeatherError):
            raise self.outcome
        return self.outcome


class Script:
    """Drives a lookup, answering each step with the next reply and keeping the steps seen."""

    def __init__(self, flow: Flow[Lookup | None]) -> None:
        self.flow = flow
        self.steps: list[Any] = [flow.send(None)]

    def reply(self, answer: Any) -> Any:
        self.steps.append(self.flow.send(answer))
        return self.steps[-1]

    def finish(self, answer: Any) -> Lookup | None:
        with pytest.raises(StopIteration) as done:
            self.flow.send(answer)
        result: Lookup | None = done.value.value
        return result


def test_keys_are_versioned_and_name_a_place_once() -> None:
    cache = shared()
    assert cache.key(PLACE) == KEY
    assert cache.key(WeatherQuery.of(-0.001, 0.0, "imperial").rounded(2)) == "webduo:v1:weather:0.00:0.00:imperial"


def test_the_stored_report_reads_back_as_the_same_forecast() -> None:
    assert Forecast.model_validate_json(REPORT) == FORECAST


def test_a_stored_report_is_a_hit() -> None:
    script = Script(shared().lookup(PLACE, (upstream := Upstream()).fetch))
    assert script.steps == [Command(("MGET", KEY, KEY + ":lock"))]
    assert script.finish([REPORT, None]) == Lookup(FORECAST, "HIT", "redis")
    assert upstream.calls == 0


def test_a_miss_takes_the_lock_calls_once_and_stores_with_the_ttl_releasing_the_lock() -> None:
    cache = shared()
    script = Script(cache.lookup(PLACE, (upstream := Upstream()).fetch))
    lock = script.reply([None, None])
    assert isinstance(lock, Command)
    token = lock.args[2]
    assert lock.args == ("SET", KEY + ":lock", token, "NX", "PX", LOCK_MS)
    store = script.reply(True)
    assert store == Command(("EVAL", STORE_AND_RELEASE, 2, KEY + ":lock", KEY, token, REPORT.decode(), TTL_MS))
    assert script.finish(1) == Lookup(FORECAST, "MISS", "redis")
    assert upstream.calls == 1


def test_a_waiter_polls_until_the_holder_stored_and_never_calls_upstream() -> None:
    script = Script(shared().lookup(PLACE, (upstream := Upstream()).fetch))
    assert script.reply([None, b"theirs"]) == Pause(0.005)
    assert script.reply(None) == Command(("MGET", KEY, KEY + ":lock", KEY + ":error:theirs"))
    assert script.reply([None, b"theirs", None]) == Pause(0.01)
    script.reply(None)
    assert script.finish([REPORT, None, None]) == Lookup(FORECAST, "MISS", "redis")
    assert upstream.calls == 0


def test_a_waiter_gets_the_holders_error_instead_of_calling_again() -> None:
    script = Script(shared().lookup(PLACE, (upstream := Upstream()).fetch))
    script.reply([None, b"theirs"])
    script.reply(None)
    handed = json.dumps({"status": 504, "reason": "too slow", "upstream_status": None, "attempts": 1}).encode()
    with pytest.raises(WeatherError) as caught:
        script.reply([None, None, handed])
    error = caught.value
    assert (error.status, error.reason, error.upstream_status, error.attempts) == (504, "too slow", None, 1)
    assert upstream.calls == 0


def test_the_holder_hands_its_error_over_under_its_token_and_does_not_cache_it() -> None:
    failure = WeatherError(502, "The service is overloaded", 503, 4)
    script = Script(shared().lookup(PLACE, (upstream := Upstream(failure)).fetch))
    token = script.reply([None, None]).args[2]
    hand_over = script.reply(True)
    assert hand_over.args[:6] == ("EVAL", STORE_AND_RELEASE, 2, KEY + ":lock", f"{KEY}:error:{token}", token)
    assert json.loads(hand_over.args[6]) == {**failure.detail, "status": 502}
    with pytest.raises(WeatherError) as caught:
        script.reply(1)
    assert caught.value is failure
    assert upstream.calls == 1


def test_a_waiter_whose_holder_is_stuck_calls_upstream_itself_after_the_budget() -> None:
    clock = Clock()
    script = Script(shared(clock).lookup(PLACE, (upstream := Upstream()).fetch))
    script.reply([None, b"stuck"])
    clock.now += BUDGET + 1
    script.reply(None)
    store = script.reply([None, b"stuck", None])
    assert (store.args[0], store.args[1], store.args[3:]) == ("SET", KEY, ("PX", TTL_MS))
    assert script.finish(True) == Lookup(FORECAST, "MISS", "redis")
    assert upstream.calls == 1


def test_a_lock_lost_to_another_process_is_followed_at_once() -> None:
    script = Script(shared().lookup(PLACE, (upstream := Upstream()).fetch))
    script.reply([None, None])
    assert script.reply(None) == Command(("MGET", KEY, KEY + ":lock"))  # SET NX refused: no pause
    assert script.finish([REPORT, None]) == Lookup(FORECAST, "HIT", "redis")
    assert upstream.calls == 0


def test_an_unreadable_value_is_a_miss_and_is_overwritten(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(shared().lookup(PLACE, (upstream := Upstream()).fetch))
    assert script.reply([b"{not a report", None]).args[0] == "SET"
    assert script.reply(True).args[0] == "EVAL"
    assert script.finish(1) == Lookup(FORECAST, "MISS", "redis")
    assert upstream.calls == 1
    assert "ignoring an unreadable weather report" in caplog.text


def test_redis_failing_gives_up_the_lookup_with_one_warning_and_is_retried_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cache = shared(clock)
    down = Unreachable(ConnectionError("Connection refused"))
    for _ in range(3):
        assert Script(cache.lookup(PLACE, Upstream().fetch)).finish(down) is None
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [record.getMessage() for record in warnings] == [
        "Redis at 127.0.0.1:6379/0 failed (ConnectionError: Connection refused); weather reports come from each"
        f" process's own cache until it answers again (tried every {RETRY_SECONDS:g} s)"
    ]
    assert not cache.usable()
    clock.now += RETRY_SECONDS
    assert cache.usable()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="webduo.weather"):
        assert Script(cache.lookup(PLACE, Upstream().fetch)).finish([REPORT, None]) == Lookup(FORECAST, "HIT", "redis")
    assert [record.getMessage() for record in caplog.records] == [
        "Redis at 127.0.0.1:6379/0 answers again; weather reports are shared again"
    ]


def test_a_report_in_hand_answers_even_when_redis_fails_to_store_it() -> None:
    cache = shared()
    script = Script(cache.lookup(PLACE, (upstream := Upstream()).fetch))
    script.reply([None, None])
    script.reply(True)
    assert script.finish(Unreachable(TimeoutError("Timeout reading from socket"))) == Lookup(FORECAST, "MISS", "redis")
    assert upstream.calls == 1
    assert not cache.usable()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@cache.internal:6380/2", "cache.internal:6380/2"),
        ("redis://user:secret@cache", "cache:6379/0"),
        ("rediss://cache:7000/", "cache:7000/0"),
    ],
)
def test_logs_name_redis_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
