"""Routes as data and the table both engines serve them from.

A route carries what its endpoint takes and gives — query model, body types, success reply,
error statuses — so the OpenAPI document (:mod:`webduo.core.openapi`) is generated from the
same table the engines route with, and the types are the ones the endpoints validate with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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
    """Exact-path routes. Unknown path: 404; known path, other method: 405 with ``Allow``."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._by_path: dict[str, dict[str, Route]] = {}
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        methods = self._by_path.setdefault(route.path, {})
        for method in route.methods:
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
        if methods is None:
            raise not_found(path)
        route = methods.get(method)
        if route is None:
            raise method_not_allowed(method, path, methods)
        return route


def not_found(path: str) -> HTTPError:
    return HTTPError(404, f"No route for {path}.")


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> HTTPError:
    return HTTPError(405, f"{method} is not allowed on {path}.", headers=[("Allow", ", ".join(sorted(allowed)))])
