"""Routes as data and the table both engines serve them from.

A route carries what its endpoint takes and gives — query model, body types, success reply,
error statuses — so the OpenAPI document (:mod:`webduo.core.openapi`) is generated from the
same table the engines route with, and the types are the ones the endpoints validate with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from webduo.core.effects import Endpoint
from webduo.core.http import HTTPError
from webduo.core.query import QueryModel


@dataclass(frozen=True, slots=True)
class Content:
    """A body of ``media_type``, read or written as ``schema``: any type pydantic can describe."""

    media_type: str
    schema: Any


@dataclass(frozen=True, slots=True)
class ReplyHeader:
    """A header a route's success reply carries besides the ones every response has."""

    name: str
    description: str
    schema: Any


@dataclass(frozen=True, slots=True)
class Reply:
    """What a route answers when it succeeds."""

    content: Content
    status: int = 200
    headers: tuple[ReplyHeader, ...] = ()


# The methods a request may name and get a 405 for: RFC 9110 §9.3, PATCH (RFC 5789) and QUERY
# (the IETF's safe method with a body, an operation method in OpenAPI 3.2, which contract
# fuzzers send). Any other (lowercase "get" included: methods are case-sensitive) is one this
# server does not recognise: 501.
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)


@dataclass(frozen=True, slots=True)
class Route:
    """``method path -> endpoint``. A GET route answers HEAD too (RFC 9110 §9.3.2).

    ``query``, ``body``, ``reply`` and ``errors`` (the error statuses the endpoint itself can
    answer) describe the endpoint for the OpenAPI document; routing ignores them.
    """

    method: str
    path: str
    endpoint: Endpoint
    name: str
    query: type[QueryModel] | None = None
    body: tuple[Content, ...] = ()
    reply: Reply | None = None
    errors: tuple[int, ...] = ()

    @property
    def methods(self) -> frozenset[str]:
        return frozenset({"GET", "HEAD"}) if self.method == "GET" else frozenset({self.method})


class RouteTable:
    """Exact-path routes. Unknown path: 404; known path, other method: 405 with ``Allow``.

    A method the server does not recognise is a 501 whatever the path (RFC 9110 §9.1).
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._by_path: dict[str, dict[str, Route]] = {}
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        methods = self._by_path.setdefault(route.path, {})
        for method in route.methods:
            if method not in KNOWN_METHODS:
                raise ValueError(f"{method} is not a method this server recognises")
            if method in methods:
                raise ValueError(f"{method} {route.path} is routed twice")
            methods[method] = route

    def __iter__(self) -> Iterator[Route]:
        """Each route once, in the order added (HEAD aliases are not separate routes)."""
        seen: list[Route] = []
        for methods in self._by_path.values():
            for route in methods.values():
                if route not in seen:
                    seen.append(route)
        return iter(seen)

    def resolve(self, method: str, path: str) -> Route:
        methods = self._by_path.get(path)
        if methods is not None and method in methods:
            return methods[method]  # the common case, first
        if method not in KNOWN_METHODS:
            raise not_implemented(method)
        if methods is None:
            raise not_found(path)
        raise method_not_allowed(method, path, methods)


def not_found(path: str) -> HTTPError:
    return HTTPError(404, f"No route for {path}.")


def not_implemented(method: str) -> HTTPError:
    return HTTPError(501, f"The method {method} is not implemented by this server.")


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> HTTPError:
    return HTTPError(405, f"{method} is not allowed on {path}.", headers=[("Allow", ", ".join(sorted(allowed)))])
