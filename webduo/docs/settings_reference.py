"""The settings reference, from ``Settings`` itself: a Markdown table of every field."""

from __future__ import annotations

from pydantic.fields import FieldInfo

from webduo.docs.readers import readers
from webduo.settings import ENV_PREFIX, KIB, MIB, Settings, Unit, setting_flag


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def description(name: str) -> str:
    text = Settings.model_fields[name].description
    if not text:
        raise ValueError(f"Settings.{name} has no Field(description=...): the docs and --help need one")
    return text


def unit(field: FieldInfo) -> str | None:
    return next((item.symbol for item in field.metadata if isinstance(item, Unit)), None)


def default_value(field: FieldInfo) -> str | None:
    """The default as a user would type it; ``None`` when there is none (computed at run time)."""
    value = field.default
    if value is None:
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_suffix(field: FieldInfo) -> str:
    """What follows the value: its unit, the size in KiB or MiB, the range allowed."""
    value, symbol = field.default, unit(field)
    suffix = f" {symbol}" if symbol else ""
    if symbol == "bytes" and isinstance(value, int):
        for size, name in ((MIB, "MiB"), (KIB, "KiB")):
            if value % size == 0:
                suffix += f" ({value // size} {name})"
                break
    bounds = {key: getattr(item, key) for item in field.metadata for key in ("ge", "le") if hasattr(item, key)}
    if {"ge", "le"} <= bounds.keys():
        suffix += f", {bounds['ge']}-{bounds['le']}"
    return suffix


def _cell(text: str) -> str:
    # "<version>" would be an HTML tag to a Markdown renderer, and "|" the end of the cell.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def settings_table() -> str:
    """One row per field, in declaration order: variable, flag, default, where it is read, meaning."""
    read_by = readers()
    lines = [
        "| environment variable | flag | default | read by | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        flag = setting_flag(name)
        value = default_value(field)
        default = "unset" if value is None else f"`{value}`{default_suffix(field)}"
        lines.append(
            f"| `{env_var(name)}` | {f'`{flag}`' if flag else ''} | {default} "
            f"| {', '.join(read_by[name]) or 'nothing'} | {_cell(description(name))} |"
        )
    return "\n".join(lines) + "\n"
