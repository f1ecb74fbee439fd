"""Routes as data and the table both engines serve them from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from webduo.core.effects import Endpoint
from webduo.core.http import HTTPError


# RFC 9110 §9.3 and PATCH (RFC 5789): the methods a request may name and get a 405 for. Any other
# (lowercase "get" included: methods are case-sensitive) is one this server does not recognise.
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


@dataclass(frozen=True, slots=True)
class Route:
    """``method path -> endpoint``. A GET route answers HEAD too (RFC 9110 §9.3.2)."""

    method: str
    path: str
    endpoint: Endpoint
    name: str

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
