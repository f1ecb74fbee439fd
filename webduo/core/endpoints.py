"""The base endpoints — hello, health, echo — written once for both engines."""

from __future__ import annotations

import codecs
import logging
import math
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError

from webduo.core.http import HTTPError, Request, Response


logger = logging.getLogger("webduo.endpoints")

JSON_TYPES: Final = frozenset({"application/json"})
FORM_TYPE: Final = "application/x-www-form-urlencoded"
TEXT_TYPE: Final = "text/plain"

FormFields = dict[str, str | list[str]]
"""A urlencoded form as ``/echo`` reads it: a key given more than once maps to the list of its values."""

_json_value: Final = TypeAdapter[JsonValue](JsonValue)
_form_fields: Final = TypeAdapter(FormFields)


class Health(BaseModel):
    """The server process is up and answering."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok"]


# The same answer every time: built once, not per probe (a Response is immutable).
_HEALTHY: Final = Response.json(Health(status="ok").model_dump())


def hello(request: Request) -> Response:
    """Say hello in plain text: the cheapest route, the one the bench hammers."""
    return Response.text("Hello, World!")


def healthz(request: Request) -> Response:
    """Report that the server is up (what probes and the bench wait for)."""
    return _HEALTHY


def echo(request: Request) -> Response:
    """Answer the JSON form of the posted data: JSON as itself, a form as an object, text as a string."""
    kind = request.content_type
    if kind in JSON_TYPES or kind.endswith("+json"):
        data: Any = parse_json_body(request.body)
    elif kind == FORM_TYPE:
        data = parse_form_body(request.body)
    elif kind == TEXT_TYPE:
        data = decode_text(request)
    else:
        shown = kind or "none"
        raise HTTPError(
            415,
            f"Content type {shown} is not supported; send application/json, {FORM_TYPE} or {TEXT_TYPE}.",
        )
    # Bodies are user data: INFO says what came, only DEBUG (opted into) shows it.
    logger.info("echo %s: %r, %d bytes", request.request_id, kind, len(request.body))
    logger.debug("echo %s content: %.200r", request.request_id, data)
    return Response.json(data)


def parse_json_body(body: bytes) -> JsonValue:
    """Any JSON value; a malformed document is a 400 that names where it broke."""
    try:
        value = _json_value.validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise HTTPError(400, f"Malformed JSON body: {first['msg']}.") from None
    if not _all_finite(value):
        # NaN, Infinity and 1e999 are not JSON numbers (RFC 8259 §6) and could not be echoed as JSON.
        raise HTTPError(400, "Malformed JSON body: numbers must be finite.")
    return value


def _all_finite(value: JsonValue) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_all_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    return True


def parse_form_body(body: bytes) -> FormFields:
    """A urlencoded form as an object; a key given more than once maps to the list of its values."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPError(400, f"Malformed form body: {exc}.") from None
    fields: FormFields = {}
    for key, value in pairs:
        earlier = fields.get(key)
        if earlier is None:
            fields[key] = value
        elif isinstance(earlier, list):
            earlier.append(value)
        else:
            fields[key] = [earlier, value]
    return _form_fields.validate_python(fields)


def decode_text(request: Request) -> str:
    charset = "utf-8"
    for param in (request.headers.get("Content-Type") or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        if not codecs.lookup(charset)._is_text_encoding:  # rot13, base64, zlib: codecs, not charsets
            raise LookupError(charset)
    except LookupError:
        raise HTTPError(415, f"Unknown charset {charset!r}.") from None
    try:
        text = request.body.decode(charset)
        # utf-7 or unicode_escape can decode to a lone surrogate: not text that UTF-8 can carry.
        text.encode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"Body is not valid {charset}: {exc.reason} at byte {exc.start}.") from None
    except UnicodeError as exc:
        raise HTTPError(400, f"Body is not valid {charset}: {exc}.") from None
    return text
