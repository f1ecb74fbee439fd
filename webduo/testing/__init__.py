"""Test support that ships with the package: the local Open-Meteo stand-in."""
