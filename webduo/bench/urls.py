"""Where a bench may send load, or point its servers: loopback only, checked before anything starts.

Hundreds of requests a second would break any public service's terms, and a bench of a remote
host measures the network as much as the server: a remote deployment is loaded from a machine
next to it, where it is loopback again.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit


LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "::1", "localhost"})
ON_LOOPBACK: Final = "must be on loopback (127.0.0.1, ::1 or localhost)"


def on_loopback(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK_NAMES


def target_problem(url: str) -> str | None:
    """Why ``url`` cannot be a bench target, or ``None``: an http(s) base URL on loopback, nothing more."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL, got {url!r}"
    if parts.hostname not in LOOPBACK_NAMES:
        return ON_LOOPBACK
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return f"has no valid port: {url!r}"
    if parts.query or parts.fragment or parts.username or parts.password:
        # Locust appends each request's path to the base URL: anything after it would garble them all.
        return f"must be a base URL, without query, fragment or credentials: {url!r}"
    return None
