"""The OpenAPI document: generated from the route table, valid OpenAPI 3.1, the same bytes everywhere."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
from typing import Any, Final

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.servers import RunningServer
from webduo.core.errors import LAST_RESORT_BODY, ErrorEnvelope, error_response
from webduo.core.http import HTTPError, Request, Response
from webduo.core.openapi import COMMON_ERRORS, build_document, render
from webduo.core.routes import build_routes, contract
from webduo.core.routing import Content, Reply, Route, RouteTable
from webduo.core.tasks import IoTaskQuery


HEADER: Final = "X-Powered-By"
ENVELOPE_REF: Final = {"$ref": "#/components/schemas/ErrorEnvelope"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(build_routes(), HEADER)


def operation(document: dict[str, Any], route: Route) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][route.path][route.method.lower()]
    return found


def resolve(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """``item``, or what its ``$ref`` (``#/a/b/c``) points at."""
    if "$ref" not in item:
        return item
    target: dict[str, Any] = document
    for part in item["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return target


def responses(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation's every response, resolved: ``(operationId, status, response)``."""
    return [
        (op["operationId"], status, resolve(document, response))
        for methods in document["paths"].values()
        for op in methods.values()
        for status, response in op["responses"].items()
    ]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"].startswith("3.1.")


def test_the_validator_refuses_a_broken_document(document: dict[str, Any]) -> None:
    # The check above can fail: a response without its required description is refused.
    broken = json.loads(json.dumps(document))
    del broken["paths"]["/hello"]["get"]["responses"]["200"]["description"]
    with pytest.raises(Exception, match="description"):
        OpenAPIV31SpecValidator(broken).validate()


def test_every_route_is_one_operation_named_after_it(document: dict[str, Any]) -> None:
    routes = list(build_routes())
    listed = sorted((path, method.upper()) for path, methods in document["paths"].items() for method in methods)
    assert listed == sorted((route.path, route.method) for route in routes)
    assert [operation(document, route)["operationId"] for route in routes] == [route.name for route in routes]


def test_every_endpoint_in_the_table_has_a_docstring() -> None:
    undocumented = [route.name for route in build_routes() if not inspect.getdoc(route.endpoint)]
    assert undocumented == []


def test_summaries_are_the_docstrings_first_lines(document: dict[str, Any]) -> None:
    for route in build_routes():
        doc = inspect.getdoc(route.endpoint) or ""
        assert operation(document, route)["summary"] == doc.splitlines()[0]


def test_a_route_without_a_docstring_makes_no_document() -> None:
    def undocumented(request: Request) -> Response:
        return Response.text("")

    routes = RouteTable([Route("GET", "/x", undocumented, "undocumented", reply=Reply(Content("text/plain", str)))])
    with pytest.raises(ValueError, match="undocumented"):
        build_document(routes, HEADER)


def test_query_parameters_are_the_query_models_fields(document: dict[str, Any]) -> None:
    for route in build_routes():
        parameters = operation(document, route).get("parameters", [])
        fields = route.query.model_fields if route.query else {}
        assert [(p["name"], p["in"], p["required"]) for p in parameters] == [
            (name, "query", field.is_required()) for name, field in fields.items()
        ]


def test_the_query_bounds_are_the_models_bounds(document: dict[str, Any]) -> None:
    # The fuzzer stays within what the schema says: the models' own limits.
    (io_route,) = (route for route in build_routes() if route.query is IoTaskQuery)
    (delay,) = operation(document, io_route)["parameters"]
    assert delay["schema"] == {"default": 100, "maximum": 10_000, "minimum": 0, "type": "integer"}


def test_request_bodies_are_the_types_echo_reads(document: dict[str, Any]) -> None:
    (echo,) = (route for route in build_routes() if route.name == "echo")
    body = operation(document, echo)["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json", "application/x-www-form-urlencoded", "text/plain"]


def test_every_error_status_is_the_one_envelope(document: dict[str, Any]) -> None:
    errors = [(name, status, response) for name, status, response in responses(document) if int(status) >= 400]
    assert errors
    for name, status, response in errors:
        assert response["content"] == {"application/json": {"schema": ENVELOPE_REF}}, (name, status)
    envelopes = [name for name in document["components"]["schemas"] if "Envelope" in name]
    assert envelopes == ["ErrorEnvelope"]


def test_each_operation_lists_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    statuses = {
        op["operationId"]: sorted(int(status) for status in op["responses"] if int(status) >= 400)
        for methods in document["paths"].values()
        for op in methods.values()
    }
    common = list(COMMON_ERRORS)
    assert statuses["hello"] == common
    assert statuses["echo"] == sorted([400, 415, *common])
    assert statuses["io_task"] == sorted([422, *common])
    assert statuses["weather"] == sorted([422, 502, 504, *common])
    assert statuses["error_task"] == sorted([422, 502, 504, *common])  # 500 is common already
    assert "200" not in operation(document, next(r for r in build_routes() if r.name == "error_task"))["responses"]


def test_404_and_405_are_in_the_contract_with_allow(document: dict[str, Any]) -> None:
    components = document["components"]["responses"]
    assert components["NotFound"]["content"] == {"application/json": {"schema": ENVELOPE_REF}}
    assert "Allow" in components["MethodNotAllowed"]["headers"]


def test_every_response_documents_the_request_id_and_the_custom_header(document: dict[str, Any]) -> None:
    for name, status, response in responses(document):
        assert {"X-Request-ID", HEADER} <= set(response["headers"]), (name, status)
    headers = document["components"]["headers"]
    assert headers["X-Request-ID"]["required"]
    assert headers[HEADER]["required"]


def test_the_custom_header_has_the_configured_name() -> None:
    renamed = build_document(build_routes(), "X-Served-By")
    assert "X-Served-By" in renamed["components"]["headers"]
    assert HEADER not in renamed["components"]["headers"]
    assert all("X-Served-By" in response["headers"] for _, _, response in responses(renamed))


def test_success_bodies_are_the_response_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert {"Health", "IoTaskResult", "CpuTaskResult", "WeatherReport", "ErrorEnvelope"} <= set(schemas)
    # A dumped model leaves no field out, defaults included: all of them are required.
    report = schemas["WeatherReport"]
    assert report["required"] == list(report["properties"])
    hello = operation(document, next(r for r in build_routes() if r.name == "hello"))
    assert hello["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_what_errors_send_is_the_envelope_model() -> None:
    sent = error_response(HTTPError(422, [{"loc": ["n"], "msg": "bad", "type": "x"}]), "id-1")
    assert ErrorEnvelope.model_validate_json(sent.body).model_dump() == json.loads(sent.body)
    ErrorEnvelope.model_validate_json(LAST_RESORT_BODY)


PROBE: Final = """
import hashlib, sys
from webduo.core.openapi import build_document, render
from webduo.core.routes import build_routes
sys.stdout.write(hashlib.sha256(render(build_document(build_routes(), "X-Powered-By"))).hexdigest())
"""


def test_the_document_is_the_same_bytes_in_every_process() -> None:
    here = hashlib.sha256(render(build_document(build_routes(), HEADER))).hexdigest()
    seen = {
        subprocess.run(
            [sys.executable, "-c", PROBE],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert seen == {here}


def test_the_served_document_is_built_once() -> None:
    assert contract(HEADER) is contract(HEADER)


def test_both_engines_serve_the_document(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == render(build_document(build_routes(), HEADER))
