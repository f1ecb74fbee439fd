"""The weather report as a rich table: how ``webduo weather`` prints it on a terminal."""

from __future__ import annotations

from rich.table import Table

from webduo.core.weather.models import ATTRIBUTION, WeatherReport


def _value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    return f"{value:g} {unit}".rstrip() if unit else f"{value:g}"


def report_table(report: WeatherReport) -> Table:
    """The report as a two-column table, units beside the values."""
    units = report.units
    where = report.place or f"{report.requested.latitude:g}, {report.requested.longitude:g}"
    table = Table(title=f"Weather at {where}", caption=ATTRIBUTION, show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    rows = [
        ("Conditions", f"{report.weather} (WMO {report.weather_code if report.weather_code is not None else '-'})"),
        ("Observed", f"{report.observed_at.isoformat()} ({report.timezone})"),
        ("Temperature", _value(report.temperature, units.temperature)),
        ("Feels like", _value(report.apparent_temperature, units.temperature)),
        ("Humidity", _value(report.humidity, units.humidity)),
        ("Precipitation", _value(report.precipitation, units.precipitation)),
        ("Cloud cover", _value(report.cloud_cover, units.cloud_cover)),
        ("Pressure", _value(report.pressure, units.pressure)),
        ("Wind", _value(report.wind_speed, units.wind_speed)),
        ("Wind from", _value(report.wind_direction, units.wind_direction)),
        ("Gusts", _value(report.wind_gusts, units.wind_speed)),
        ("Grid cell", f"{report.grid.latitude:g}, {report.grid.longitude:g} ({_value(report.elevation, 'm')})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
