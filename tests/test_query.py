"""Query strings into pydantic models: a repeated parameter is named as such, on every endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import Field

from webduo.core.http import HTTPError, Request
from webduo.core.query import QueryModel, parse_query
from webduo.testing.openmeteo import FakeOpenMeteo


class Sample(QueryModel):
    n: int = 1
    name: str = "x"
    tags: list[str] = Field(default_factory=list)


def detail_of(query: str) -> Any:
    with pytest.raises(HTTPError) as caught:
        parse_query(Sample, Request("GET", "/", query))
    assert caught.value.status == 422
    return caught.value.detail


def repeated(name: str, times: int) -> dict[str, Any]:
    return {"loc": [name], "msg": f"Given {times} times; '{name}' takes one value", "type": "repeated_parameter"}


def test_a_repeated_single_value_parameter_is_named() -> None:
    assert detail_of("n=1&n=2") == [repeated("n", 2)]


def test_each_repeated_parameter_is_named_and_other_errors_still_listed() -> None:
    assert detail_of("n=1&n=2&name=a&name=b&name=c&extra=1") == [
        repeated("n", 2),
        repeated("name", 3),
        {"loc": ["extra"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"},
    ]


def test_a_repeated_parameter_is_one_error_whatever_its_values() -> None:
    assert detail_of("n=x&n=y") == [repeated("n", 2)]


def test_a_field_that_takes_many_values_takes_them() -> None:
    parsed = parse_query(Sample, Request("GET", "/", "tags=a&tags=b&n=3"))
    assert (parsed.tags, parsed.n) == (["a", "b"], 3)


@pytest.mark.parametrize(
    ("target", "name", "message"),
    [
        ("/weather?lat=1&lat=2&lon=3", "lat", "Invalid weather query"),
        ("/io_task?delay_ms=1&delay_ms=2", "delay_ms", "Unprocessable Content"),
    ],
)
def test_servers_name_the_repeated_parameter(
    client: httpx.Client, openmeteo: FakeOpenMeteo, target: str, name: str, message: str
) -> None:
    response = client.get(target)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["message"], error["detail"]) == (message, [repeated(name, 2)])
    assert openmeteo.state.count() == 0
