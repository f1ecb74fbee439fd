"""The one route table both engines serve, each route with what the OpenAPI document says of it."""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from pydantic import JsonValue

from webduo.core import endpoints, metrics, tasks
from webduo.core.endpoints import FORM_TYPE, TEXT_TYPE, FormFields, Health
from webduo.core.http import JSON_CONTENT_TYPE, Headers, Request, Response
from webduo.core.middleware import DEFAULT_CUSTOM_HEADER
from webduo.core.openapi import build_document, render
from webduo.core.routing import Content, Reply, ReplyHeader, Route, RouteTable
from webduo.core.weather.cache import CacheStatus
from webduo.core.weather.endpoint import weather
from webduo.core.weather.models import WeatherQuery, WeatherReport


OPENAPI_PATH: Final = "/openapi.json"


def _json(schema: Any) -> Reply:
    return Reply(Content(JSON_CONTENT_TYPE, schema))


def build_routes(custom_header: str = DEFAULT_CUSTOM_HEADER) -> RouteTable:
    """The routes; ``custom_header`` is the name the middleware adds, which the contract documents."""
    return RouteTable(
        [
            Route("GET", "/hello", endpoints.hello, "hello", reply=Reply(Content(TEXT_TYPE, str))),
            Route("GET", "/healthz", endpoints.healthz, "healthz", reply=_json(Health)),
            Route(
                "POST",
                "/echo",
                endpoints.echo,
                "echo",
                body=(
                    Content(JSON_CONTENT_TYPE, JsonValue),
                    Content(FORM_TYPE, FormFields),
                    Content(TEXT_TYPE, str),
                ),
                reply=_json(JsonValue),
                errors=(400, 415),
            ),
            Route(
                "GET",
                "/io_task",
                tasks.io_task,
                "io_task",
                query=tasks.IoTaskQuery,
                reply=_json(tasks.IoTaskResult),
                errors=(422,),
            ),
            Route(
                "GET",
                "/cpu_task",
                tasks.cpu_task,
                "cpu_task",
                query=tasks.CpuTaskQuery,
                reply=_json(tasks.CpuTaskResult),
                errors=(422,),
            ),
            Route(
                "GET",
                "/error_task",
                tasks.error_task,
                "error_task",
                query=tasks.ErrorTaskQuery,
                errors=(422, 500, 502, 504),
            ),
            Route(
                "GET",
                "/weather",
                weather,
                "weather",
                query=WeatherQuery,
                reply=Reply(
                    Content(JSON_CONTENT_TYPE, WeatherReport),
                    headers=(ReplyHeader("X-Cache", "Whether the forecast came from the cache.", CacheStatus),),
                ),
                errors=(422, 502, 504),
            ),
            Route("GET", OPENAPI_PATH, OpenApi(custom_header), "openapi", reply=_json(dict[str, Any])),
            Route("GET", "/metrics", metrics.metrics, "metrics", reply=Reply(Content("text/plain", str))),
        ]
    )


class OpenApi:
    """This document: the OpenAPI 3.1 contract both engines are tested against.

    Generated from the route table on first use, then the same bytes for the life of the process.
    """

    def __init__(self, custom_header: str) -> None:
        self.custom_header = custom_header

    def __call__(self, request: Request) -> Response:
        return Response(200, JSON_HEADERS, contract(self.custom_header))


JSON_HEADERS: Final = Headers.of([("Content-Type", JSON_CONTENT_TYPE)])


@cache
def contract(custom_header: str) -> bytes:
    """The OpenAPI document of :func:`build_routes` as served, for a custom header named ``custom_header``."""
    return render(build_document(build_routes(custom_header), custom_header))
