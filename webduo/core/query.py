"""Query parameters validated by a pydantic model: bad input is a 422 envelope, never a crash."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from webduo.core.http import HTTPError, Request


class QueryModel(BaseModel):
    """Base for an endpoint's query parameters.

    Unknown names are rejected rather than ignored: a misspelt ``?delay=500`` silently served
    with the default would make a benchmark measure something else than intended.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


Q = TypeVar("Q", bound=QueryModel)


def parse_query(model: type[Q], request: Request, message: str | None = None) -> Q:
    """``request``'s query string as ``model``; a 422 (with ``message``) listing every field error.

    A parameter given more than once for a field that takes one value is named as repeated,
    rather than failing as "not a valid number" because it arrived as a list.
    """
    repeated = {
        name: len(values)
        for name, values in request.query.items()
        if len(values) > 1 and name in model.model_fields and not _takes_many(model.model_fields[name])
    }
    # The first value stands in for a repeated one, so its other problems do not hide the rest's.
    fields = {name: values[0] for name, values in request.query.items() if name in repeated}
    errors = [repeated_error(name, times) for name, times in repeated.items()]
    try:
        parsed = model.model_validate({**query_fields(request.query), **fields})
    except ValidationError as exc:
        errors += [error for error in field_errors(exc) if not (error["loc"] and error["loc"][0] in repeated)]
    if errors:
        raise HTTPError(422, errors, message=message)
    return parsed


def repeated_error(name: str, times: int) -> dict[str, Any]:
    return {"loc": [name], "msg": f"Given {times} times; '{name}' takes one value", "type": "repeated_parameter"}


def _takes_many(field: FieldInfo) -> bool:
    annotation = get_origin(field.annotation) or field.annotation
    return isinstance(annotation, type) and issubclass(annotation, (list, tuple, set, frozenset))


def query_fields(query: Mapping[str, list[str]]) -> dict[str, Any]:
    """A name given once as its string, a repeated one as the list of its values.

    So ``?n=1&n=2`` fails an ``int`` field instead of one value winning silently.
    """
    return {key: values[0] if len(values) == 1 else values for key, values in query.items()}


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's field errors as ``{loc, msg, type}``: no docs URLs, and no echo of possibly huge inputs."""
    return [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]
