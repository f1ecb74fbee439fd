"""Current weather from Open-Meteo for ``/weather`` on both engines and ``webduo weather``.

Modules: :mod:`.models` (pydantic shapes in and out), :mod:`.codes` (WMO descriptions),
:mod:`.retry` (the retry plan), :mod:`.client` (blocking and async clients), :mod:`.cache`,
:mod:`.endpoint` (the route). The local Open-Meteo stand-in is :mod:`webduo.testing.openmeteo`.
"""
