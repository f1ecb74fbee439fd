"""The one route table both engines serve."""

from __future__ import annotations

from webduo.core import endpoints
from webduo.core.routing import Route, RouteTable


def build_routes() -> RouteTable:
    return RouteTable(
        [
            Route("GET", "/hello", endpoints.hello, "hello"),
            Route("GET", "/healthz", endpoints.healthz, "healthz"),
            Route("POST", "/echo", endpoints.echo, "echo"),
        ]
    )
