"""The retry plan alone: outcomes fed by hand, time from a fake clock, no sockets."""

from __future__ import annotations

import random
from collections.abc import Sequence

import httpx
import pytest
from pydantic import BaseModel

from webduo.core.weather.errors import WeatherError
from webduo.core.weather.retry import Done, Outcome, Pause, Plan, RetryPolicy, Send


POLICY = RetryPolicy(retries=3, backoff=0.25, total_timeout=12.0, connect_timeout=3.0, read_timeout=5.0)
URL = "http://upstream.test/v1/forecast"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def build(timeout: httpx.Timeout) -> httpx.Request:
    return httpx.Request("GET", URL, extensions={"timeout": timeout.as_dict()})


class Answer(BaseModel):
    ok: int


def parse(body: bytes) -> int:
    return Answer.model_validate_json(body).ok


def answer(status: int, body: bytes = b'{"ok": 1}', content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": content_type})


def new_plan(policy: RetryPolicy, clock: Clock) -> Plan[int]:
    return Plan(build, parse, policy, clock=clock, rng=random.Random(7))  # noqa: S311 - reproducible jitter


def drive(outcomes: Sequence[Outcome], policy: RetryPolicy = POLICY) -> tuple[int | WeatherError, list[object]]:
    """Drive a plan, answering each Send with the next outcome: its value or error, and the steps seen."""
    clock = Clock()
    plan = new_plan(policy, clock)
    steps: list[object] = []
    pending = iter(outcomes)
    try:
        step = plan.advance(None)
        while not isinstance(step, Done):
            steps.append(step)
            if isinstance(step, Pause):
                clock.now += step.seconds
            step = plan.advance(next(pending) if isinstance(step, Send) else None)
    except WeatherError as error:
        return error, steps
    return step.value, steps


def run(outcomes: Sequence[Outcome]) -> tuple[int, list[object]]:
    value, steps = drive(outcomes)
    assert isinstance(value, int), value
    return value, steps


def failure(outcomes: Sequence[Outcome]) -> tuple[WeatherError, list[object]]:
    error, steps = drive(outcomes)
    assert isinstance(error, WeatherError), error
    return error, steps


def test_first_answer_wins_without_pauses() -> None:
    value, steps = run([answer(200)])
    assert value == 1
    assert [type(step) for step in steps] == [Send]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_succeed(status: int) -> None:
    value, steps = run([answer(status, b'{"error":true,"reason":"busy"}'), answer(200)])
    assert value == 1
    assert [type(step) for step in steps] == [Send, Pause, Send]


def test_connect_failures_are_retried() -> None:
    request = build(httpx.Timeout(1))
    outcomes: list[Outcome] = [
        httpx.ConnectError("refused", request=request),
        httpx.ConnectTimeout("slow handshake", request=request),
        httpx.RemoteProtocolError("closed before answering", request=request),
        answer(200),
    ]
    value, steps = run(outcomes)
    assert value == 1
    assert sum(isinstance(step, Send) for step in steps) == 4


def test_a_200_saying_error_is_retried_like_a_5xx() -> None:
    value, _ = run([answer(200, b'{"error":true,"reason":"try later"}'), answer(200)])
    assert value == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_not_retried_and_pass_the_reason_on(status: int) -> None:
    error, steps = failure([answer(status, b'{"error":true,"reason":"Latitude must be in range"}')])
    assert (error.status, error.upstream_status, error.reason, error.attempts) == (
        502,
        status,
        "Latitude must be in range",
        1,
    )
    assert len(steps) == 1


def test_exhausted_retries_report_the_last_failure_and_the_attempts() -> None:
    html = b"<html><title>502 Bad Gateway</title></html>"
    error, steps = failure(
        [answer(503, b'{"error":true,"reason":"overloaded"}')] * 3 + [answer(502, html, "text/html")]
    )
    assert (error.status, error.upstream_status, error.attempts) == (502, 502, 4)
    assert error.reason == "Open-Meteo answered 502 without an error reason (text/html)"
    assert [type(step) for step in steps] == [Send, Pause] * 3 + [Send]


def test_read_timeout_is_a_504_without_retry() -> None:
    error, steps = failure([httpx.ReadTimeout("slow", request=build(httpx.Timeout(1)))])
    assert (error.status, error.upstream_status, error.attempts, len(steps)) == (504, None, 1, 1)


def test_garbage_200_is_a_502_without_retry() -> None:
    error, _ = failure([answer(200, b"<<not json>>", "text/plain")])
    assert (error.status, error.upstream_status, error.attempts) == (502, 200, 1)
    assert "unexpected" in error.reason


def test_backoff_grows_exponentially_with_jitter() -> None:
    _, steps = run([answer(503)] * 3 + [answer(200)])
    pauses = [step.seconds for step in steps if isinstance(step, Pause)]
    for retry, pause in enumerate(pauses, start=1):
        ceiling = 0.25 * 2 ** (retry - 1)
        assert ceiling / 2 <= pause <= ceiling


def test_timeouts_shrink_to_the_remaining_budget_and_pauses_stop_at_the_deadline() -> None:
    policy = RetryPolicy(retries=10, backoff=1.0, total_timeout=5.0, connect_timeout=3.0, read_timeout=5.0)
    clock = Clock()
    plan = new_plan(policy, clock)
    first = plan.advance(None)
    assert isinstance(first, Send)
    assert first.request.extensions["timeout"] == {"connect": 3.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    clock.now += 1.0  # the attempt took a second
    pause = plan.advance(answer(503))
    assert isinstance(pause, Pause)
    clock.now += pause.seconds
    second = plan.advance(None)
    assert isinstance(second, Send)
    left = 5.0 - clock.now
    assert second.request.extensions["timeout"]["read"] == pytest.approx(left)
    clock.now += left - 0.1  # nearly out of time: no pause would fit
    with pytest.raises(WeatherError) as caught:
        plan.advance(answer(503))
    assert caught.value.attempts == 2
