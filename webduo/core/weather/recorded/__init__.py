"""Open-Meteo answers as recorded (see ``README.md`` beside them), shipped as package data.

The local stand-in serves them byte for byte and the tests parse them; nothing reads them
from outside the package, so an installed wheel behaves like the checkout.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def recorded(name: str) -> bytes:
    """The exact bytes of the recorded file ``name`` (e.g. ``"openmeteo_current_example.json"``)."""
    return files(__name__).joinpath(name).read_bytes()
