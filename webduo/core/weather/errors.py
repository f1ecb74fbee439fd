"""What can go wrong upstream, as the gateway status a server answers with."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


# Not frozen: contextlib and asyncio assign ``__traceback__`` to exceptions they pass on.
@dataclass(eq=False)
class WeatherError(Exception):
    """Open-Meteo could not give an answer; ``status`` is what a gateway reports for it (RFC 9110 §15.6).

    ``upstream_status`` is the status Open-Meteo sent (``None`` when none arrived), ``reason``
    its own explanation when it gave one, and ``attempts`` how many requests were made.
    """

    status: int
    reason: str
    upstream_status: int | None = None
    attempts: int = 1

    def __str__(self) -> str:
        return self.reason

    @property
    def detail(self) -> dict[str, Any]:
        """The error envelope's ``detail``: the same on both servers."""
        return {"reason": self.reason, "upstream_status": self.upstream_status, "attempts": self.attempts}

    def after(self, attempts: int) -> WeatherError:
        return replace(self, attempts=attempts)


def bad_gateway(reason: str, upstream_status: int | None = None) -> WeatherError:
    """502: Open-Meteo refused, failed, or answered something that is not a forecast."""
    return WeatherError(502, reason, upstream_status)


def gateway_timeout(reason: str) -> WeatherError:
    """504: Open-Meteo did not answer within the time allowed."""
    return WeatherError(504, reason)
