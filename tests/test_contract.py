"""Both engines honour the OpenAPI document: schemathesis fuzzes every operation on each.

The schema is the document this process generates (the servers serve the same bytes, which
``tests/test_openapi.py`` checks), so collection needs no running server. Every built-in check
runs: no 5xx, documented statuses, content types, headers and bodies, invalid input refused and
valid input accepted. Generation is seeded and derandomized and the examples per operation are
few, so the run is the same every time and adds seconds, not minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.servers import ENGINES, RunningServer
from webduo.core.openapi import build_document
from webduo.core.routes import build_routes
from webduo.core.tasks import MAX_DELAY_MS, MAX_PRIMES_BELOW
from webduo.testing.openmeteo import FakeOpenMeteo


# The repository's schemathesis.toml says what the checks expect; the suite adds a fixed seed,
# derandomized generation and few examples, so every run is the same and takes seconds.
CONFIG: Final = schemathesis.Config.from_path(Path(__file__).resolve().parent.parent / "schemathesis.toml")
CONFIG.update(seed=20261130, max_failures=None)
CONFIG.projects.override.generation.update(max_examples=30, deterministic=True, database="none")
SCHEMA: Final = schemathesis.openapi.from_dict(build_document(build_routes(), "X-Powered-By"), config=CONFIG)

# The schema lets a wait be 10 s and a count take seconds, and the fuzzer likes the bounds; how
# long a valid wait takes is the bench's business, not the contract's. A valid value is capped,
# so every case stays fast, and an invalid one (negative, too big, not a number) is sent as is.
FAST_ENOUGH: Final[dict[str, tuple[int, int]]] = {"delay_ms": (MAX_DELAY_MS, 20), "n": (MAX_PRIMES_BELOW, 5_000)}


def keep_fast(query: dict[str, Any] | None) -> None:
    """Cap ``query``'s valid waits in place: numbers from the fuzzer, digit strings from the coverage phase."""
    for name, (limit, cap) in FAST_ENOUGH.items():
        value = (query or {}).get(name)
        if isinstance(value, str) and value.isdigit() and int(value) <= limit:
            assert query is not None
            query[name] = str(min(int(value), cap))
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= limit:
            assert query is not None
            query[name] = type(value)(min(value, cap))


@SCHEMA.parametrize()
# ``server`` hands out a session-wide process and ``openmeteo`` resets the stand-in once per
# operation: nothing in either needs to start afresh for each generated example.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_engines_honour_the_contract(
    case: schemathesis.Case[Any], server: RunningServer, openmeteo: FakeOpenMeteo
) -> None:
    keep_fast(case.query)
    case.call_and_validate(base_url=server.base_url, timeout=10)


# The common errors every operation lists, which random generation does not reach. The fuzzer
# found the 414 (a long run of repeated lat=...).
COMMON_ERROR_CASES: Final = [
    ("GET /weather", {"query": {"lat": "1", "lon": "2", "pad": "a" * 9_000}}, 414),
    ("GET /weather", {"query": {"lat": "1", "lon": "2"}, "headers": {"X-Pad": "a" * 17_000}}, 431),
    ("POST /echo", {"media_type": "text/plain"}, 413),  # with a body one byte over the servers' limit
    ("GET /hello", {"headers": {"Expect": "fancy"}}, 417),
]


@pytest.mark.parametrize(
    ("engine", "label", "parts", "status"),
    [
        pytest.param(engine, label, parts, status, id=f"{status}-{engine}")
        for label, parts, status in COMMON_ERROR_CASES
        for engine in ENGINES
    ],
)
def test_the_common_errors_are_answered_as_documented(
    servers: dict[str, RunningServer],
    server_env: dict[str, str],
    engine: str,
    label: str,
    parts: dict[str, Any],
    status: int,
) -> None:
    if status == 413:
        parts = {**parts, "body": "x" * (int(server_env["WEBDUO_MAX_BODY_SIZE"]) + 1)}
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None
    response = operation.Case(**parts).call_and_validate(base_url=servers[engine].base_url, timeout=10)
    assert response.status_code == status


def test_every_route_is_fuzzed() -> None:
    routes = list(build_routes())
    assert len(SCHEMA) == len(routes)
    assert all(SCHEMA.find_operation_by_label(f"{route.method} {route.path}") for route in routes)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"delay_ms": 9_999}, {"delay_ms": 20}),
        ({"delay_ms": 3}, {"delay_ms": 3}),
        ({"delay_ms": 10_001}, {"delay_ms": 10_001}),
        ({"delay_ms": -1}, {"delay_ms": -1}),
        ({"delay_ms": "abc"}, {"delay_ms": "abc"}),
        ({"delay_ms": "10000"}, {"delay_ms": "20"}),
        ({"delay_ms": "10001"}, {"delay_ms": "10001"}),
        ({"delay_ms": "-1"}, {"delay_ms": "-1"}),
        ({"delay_ms": "0.5"}, {"delay_ms": "0.5"}),
        ({"n": 2_000_000.0}, {"n": 5_000.0}),
        ({"n": True}, {"n": True}),
    ],
)
def test_only_valid_waits_are_capped(query: dict[str, Any], expected: dict[str, Any]) -> None:
    keep_fast(query)
    assert query == expected
