"""Query parameters validated by a pydantic model: bad input is a 422 envelope, never a crash."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from webduo.core.http import HTTPError, Request


class QueryModel(BaseModel):
    """Base for an endpoint's query parameters.

    Unknown names are rejected rather than ignored: a misspelt ``?delay=500`` silently served
    with the default would make a benchmark measure something else than intended.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


Q = TypeVar("Q", bound=QueryModel)


def parse_query(model: type[Q], request: Request, message: str | None = None) -> Q:
    """``request``'s query string as ``model``; a 422 (with ``message``) listing pydantic's field errors."""
    try:
        return model.model_validate(query_fields(request.query))
    except ValidationError as exc:
        raise HTTPError(422, field_errors(exc), message=message) from None


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
