"""The one route table both engines serve."""

from __future__ import annotations

from webduo.core import endpoints, metrics, tasks
from webduo.core.routing import Route, RouteTable
from webduo.core.weather.endpoint import weather


def build_routes() -> RouteTable:
    return RouteTable(
        [
            Route("GET", "/hello", endpoints.hello, "hello"),
            Route("GET", "/healthz", endpoints.healthz, "healthz"),
            Route("POST", "/echo", endpoints.echo, "echo"),
            Route("GET", "/io_task", tasks.io_task, "io_task"),
            Route("GET", "/cpu_task", tasks.cpu_task, "cpu_task"),
            Route("GET", "/error_task", tasks.error_task, "error_task"),
            Route("GET", "/weather", weather, "weather"),
            Route("GET", "/metrics", metrics.metrics, "metrics"),
        ]
    )
