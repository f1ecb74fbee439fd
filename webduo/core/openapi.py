"""The OpenAPI 3.1 document of a route table: generated from the routes, never written by hand.

Everything in it comes from what the engines already run: paths, methods and operation ids
from the :class:`~webduo.core.routing.RouteTable`, summaries from the endpoints' docstrings,
parameters and bodies from the pydantic models the endpoints validate with, success bodies
from the models they answer with, and one shared component,
:class:`~webduo.core.errors.ErrorEnvelope`, for every error status.

The document is a pure function of the table and the custom header's name. Its key order is
the code's (routes in table order, statuses sorted, pydantic's field order) and no set is
iterated, so it serialises to the same bytes in every process: both engines serve them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import core_schema

from webduo import __version__
from webduo.core.errors import ErrorEnvelope
from webduo.core.http import JSON_CONTENT_TYPE, reason_phrase
from webduo.core.middleware import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from webduo.core.query import QueryModel
from webduo.core.routing import Route


OPENAPI_VERSION: Final = "3.1.0"
SCHEMAS: Final = "#/components/schemas/"
ENVELOPE_REF: Final = {"$ref": f"{SCHEMAS}{ErrorEnvelope.__name__}"}

# What any operation can answer whatever its endpoint does: a request over one of the limits
# (body, request line, header block; refused before routing), an Expect other than
# 100-continue, and a failure nobody foresaw.
COMMON_ERRORS: Final = (413, 414, 417, 431, 500)


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """An error status's component name (RFC 9110's, spelt here: Python renames some) and why it is answered."""

    name: str
    reason: str


# 404 and 405 belong to no operation (they answer the paths and methods the document does not
# list) but are part of the contract all the same.
ERRORS: Final[Mapping[int, ErrorStatus]] = {
    400: ErrorStatus("BadRequest", "The body could not be read as its media type says."),
    404: ErrorStatus("NotFound", "No operation has this path."),
    405: ErrorStatus(
        "MethodNotAllowed", "The path exists, but not with this method; `Allow` lists the methods it has."
    ),
    413: ErrorStatus(
        "ContentTooLarge", "The body is over the server's limit (`WEBDUO_MAX_BODY_SIZE`); it was refused unread."
    ),
    414: ErrorStatus(
        "UriTooLong", "The request line is over the server's limit (`WEBDUO_MAX_REQUEST_LINE`): a query too long."
    ),
    415: ErrorStatus("UnsupportedMediaType", "The body's media type, or its charset, is not one this operation reads."),
    417: ErrorStatus(
        "ExpectationFailed", "The request's `Expect` is not `100-continue`, the only expectation supported."
    ),
    422: ErrorStatus(
        "UnprocessableContent",
        "A query parameter is invalid, or not one this operation takes; `detail` lists the field errors.",
    ),
    431: ErrorStatus(
        "RequestHeaderFieldsTooLarge",
        "The header fields are over the server's limits (`WEBDUO_MAX_HEADER_COUNT`, `WEBDUO_MAX_HEADER_BLOCK`).",
    ),
    500: ErrorStatus(
        "InternalServerError",
        "The server failed to handle the request; its log has the traceback, under the request id.",
    ),
    502: ErrorStatus("BadGateway", "The upstream answered with an error, or with something that is not an answer."),
    504: ErrorStatus("GatewayTimeout", "The upstream did not answer in time."),
}

DESCRIPTION: Final = """\
The same routes served by two HTTP/1.1 engines: a synchronous one on raw sockets and an
asynchronous one on aiohttp. Both are tested against this document.

- Every `GET` operation answers `HEAD` too, with the same headers and no body.
- Every response carries `{request_id}` (the client's own when it is 1-128 characters of
  `A-Z a-z 0-9 . _ : -`, otherwise a fresh one) and `{custom}` (which server answered).
- Every error status has the same JSON body, `ErrorEnvelope`. A path not listed here is a 404
  and a method a listed path does not have is a 405 with `Allow`, both in that envelope.
- Unknown query parameters are refused (422) by the operations that take parameters.
- A request that is not valid HTTP/1.1 never reaches an operation: the sync engine answers it
  with a 4xx/5xx in the envelope, the async engine (aiohttp's parser) in plain text. That
  parser also refuses a request over the request-line or header limits with a plain-text 400,
  where the sync engine answers the 414 or 431 documented here.
"""


class _EveryFieldSent(GenerateJsonSchema):
    """Response schemas list every field as required: a dumped model leaves none out, defaults included."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


def build_document(routes: Iterable[Route], custom_header: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``; ``custom_header`` is the name the middleware adds.

    Raises ``ValueError`` for a route whose endpoint has no docstring: it would have no summary.
    """
    routes = list(routes)
    schemas = _Schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas, custom_header)
    reply_headers = {header.name: header for route in routes if route.reply for header in route.reply.headers}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "webduo",
            "version": __version__,
            "summary": "One route table, two HTTP servers: sync (raw sockets) and async (aiohttp).",
            "description": DESCRIPTION.format(request_id=REQUEST_ID_HEADER, custom=custom_header),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": {error.name: _error_response(status, custom_header) for status, error in ERRORS.items()},
            "headers": {
                REQUEST_ID_HEADER: _header(
                    "The request's id: the client's own when it is sane, else a fresh one.",
                    {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
                ),
                custom_header: _header(
                    "Which server answered: `webduo/<version> (<engine>)` unless configured.", {"type": "string"}
                ),
                "Allow": _header("The methods the path has, comma-separated.", {"type": "string"}),
                **{
                    name: _header(header.description, schemas[_header_key(name)])
                    for name, header in reply_headers.items()
                },
            },
        },
    }


def render(document: Mapping[str, Any]) -> bytes:
    """``document`` as UTF-8 JSON, indented for people, ending in a newline; the same bytes every time."""
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _operation(route: Route, schemas: _Schemas, custom_header: str) -> dict[str, Any]:
    summary, description = _docstring(route)
    operation: dict[str, Any] = {"operationId": route.name, "summary": summary}
    if description:
        operation["description"] = description
    if route.query is not None:
        operation["parameters"] = _query_parameters(route.name, route.query)
    if route.body:
        operation["requestBody"] = {
            "required": True,
            "content": {
                content.media_type: {"schema": schemas[_body_key(route, content.media_type)]} for content in route.body
            },
        }
    responses: dict[str, Any] = {}
    if route.reply is not None:
        headers = _common_headers(custom_header)
        headers.update({header.name: _header_ref(header.name) for header in route.reply.headers})
        responses[str(route.reply.status)] = {
            "description": reason_phrase(route.reply.status),
            "headers": headers,
            "content": {route.reply.content.media_type: {"schema": schemas[_reply_key(route)]}},
        }
    for status in sorted({*route.errors, *COMMON_ERRORS}):
        if status not in ERRORS:
            raise ValueError(f"route {route.name!r} answers {status}, which the document has no reason for")
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status].name}"}
    operation["responses"] = responses
    return operation


def _docstring(route: Route) -> tuple[str, str]:
    """The endpoint's docstring as a summary (its first line) and a description (the rest).

    Docstrings' double backquotes are code spans in CommonMark too, so they are kept as written.
    """
    doc = inspect.getdoc(route.endpoint)
    if not doc:
        raise ValueError(f"route {route.name!r}: its endpoint has no docstring to take a summary from")
    summary, _, rest = doc.partition("\n")
    return summary.strip(), rest.strip()


def _query_parameters(name: str, model: type[QueryModel]) -> list[dict[str, Any]]:
    """One ``in: query`` parameter per field of route ``name``'s query model, as that model validates it."""
    schema = model.model_json_schema(mode="validation")
    if "$defs" in schema:
        raise ValueError(f"route {name!r}: a query parameter cannot be a nested model")
    required = set(schema.get("required", ()))
    parameters = []
    for field_name, field in schema.get("properties", {}).items():
        field = {key: value for key, value in field.items() if key != "title"}
        parameter: dict[str, Any] = {"name": field_name, "in": "query", "required": field_name in required}
        if "description" in field:
            parameter["description"] = field.pop("description")
        parameter["schema"] = field
        parameters.append(parameter)
    return parameters


def _common_headers(custom_header: str) -> dict[str, Any]:
    return {REQUEST_ID_HEADER: _header_ref(REQUEST_ID_HEADER), custom_header: _header_ref(custom_header)}


def _header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _error_response(status: int, custom_header: str) -> dict[str, Any]:
    headers = _common_headers(custom_header)
    if status == 405:
        headers["Allow"] = _header_ref("Allow")
    return {
        "description": ERRORS[status].reason,
        "headers": headers,
        "content": {JSON_CONTENT_TYPE: {"schema": dict(ENVELOPE_REF)}},
    }


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema}


def _body_key(route: Route, media_type: str) -> str:
    return f"{route.name} body {media_type}"


def _reply_key(route: Route) -> str:
    return f"{route.name} reply"


def _header_key(name: str) -> str:
    return f"header {name}"


class _Schemas:
    """Every type the routes name, turned into JSON Schema in one pass.

    One pass lets pydantic name each model once: a model used in two places is one component.
    Bodies are described as they are validated, replies and headers as they are serialised.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        inputs: dict[str, tuple[JsonSchemaMode, Any]] = {}
        for route in routes:
            for content in route.body:
                inputs[_body_key(route, content.media_type)] = ("validation", content.schema)
            if route.reply is not None:
                inputs[_reply_key(route)] = ("serialization", route.reply.content.schema)
                for header in route.reply.headers:
                    inputs[_header_key(header.name)] = ("serialization", header.schema)
        # The envelope is referenced by the error responses, not by any one route: a component of its own.
        inputs["envelope"] = ("serialization", ErrorEnvelope)
        by_key, definitions = TypeAdapter.json_schemas(
            [(key, mode, TypeAdapter(kind)) for key, (mode, kind) in inputs.items()],
            ref_template=SCHEMAS + "{model}",
            schema_generator=_EveryFieldSent,
        )
        self._by_key = {key: schema for (key, _mode), schema in by_key.items()}
        self.components: dict[str, Any] = dict(definitions.get("$defs", {}))

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self._by_key[key]
