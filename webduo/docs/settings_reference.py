"""The settings reference, from ``Settings`` itself: a Markdown table of every field, and the
help of each CLI flag that sets one, so the docs and ``--help`` say the same sentence."""

from __future__ import annotations

import json

from pydantic.fields import FieldInfo

from webduo.docs.readers import readers
from webduo.engines.http1.parser import MAX_CHUNK_LINE
from webduo.engines.listener import LINGER_SECONDS
from webduo.settings import ENV_PREFIX, KIB, MIB, Settings, Unit, setting_flag


# The settings that bound one connection, in the order a request meets them (docs/sync-engine.md).
CONNECTION_LIMITS = (
    "max_request_line",
    "max_header_count",
    "max_header_block",
    "max_body_size",
    "head_timeout",
    "body_timeout",
    "keepalive_timeout",
    "send_timeout",
    "graceful_timeout",
    "max_connections",
)


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


def limits_table() -> str:
    """The bounds on a connection: the settings among them, then the constants, each with its value."""
    lines = ["| limit | default | what happens |", "| --- | --- | --- |"]
    for name in CONNECTION_LIMITS:
        field = Settings.model_fields[name]
        lines.append(f"| `{env_var(name)}` | `{default_value(field)}`{default_suffix(field)} | {_cell(description(name))} |")
    lines += [
        f"| chunk-size line (constant) | {MAX_CHUNK_LINE // KIB} KiB | 400 |",
        f"| chunked framing, size lines and CRLFs (`{env_var('max_body_size')}` again) | as the body | 413: a body of"
        " one-byte chunks cannot cost a parse step per byte |",
        f"| lingering close after an error response (constant) | {LINGER_SECONDS:g} s | close |",
    ]
    return "\n".join(lines) + "\n"


def flag_help() -> dict[str, str]:
    """CLI flag -> its help: the field's description, its variable and its default."""
    fields_by_flag: dict[str, list[str]] = {}
    for name in Settings.model_fields:
        flag = setting_flag(name)
        if flag:
            fields_by_flag.setdefault(flag, []).append(name)
    helps = {}
    for flag, names in sorted(fields_by_flag.items()):
        descriptions = {description(name) for name in names}
        if len(descriptions) > 1:
            raise ValueError(f"{flag} sets {', '.join(names)}, whose descriptions differ: a flag has one help")
        defaults = [default_value(Settings.model_fields[name]) or "unset" for name in names]
        helps[flag] = (
            f"{descriptions.pop()} [env {' / '.join(map(env_var, names))}; default: {' / '.join(defaults)}]"
        )
    return helps


def flag_help_module() -> str:
    """The source of ``webduo/settings_help.py``: the CLI reads it instead of ``Settings``."""
    entries = "".join(f"    {json_string(flag)}: {json_string(text)},\n" for flag, text in flag_help().items())
    return (
        '"""The help of each CLI flag that sets a ``Settings`` field: description, variable, default.\n'
        "\n"
        "Generated from ``webduo/settings.py`` by ``make docs``: edit the descriptions there. The CLI\n"
        "reads this module, not ``Settings``: importing pydantic-settings would triple the time\n"
        "``webduo --help`` takes to start.\n"
        '"""\n'
        "\n"
        "# ruff: noqa: E501\n"
        "\n"
        "from typing import Final\n"
        "\n"
        "\n"
        "FLAG_HELP: Final[dict[str, str]] = {\n"
        f"{entries}"
        "}\n"
    )


def json_string(text: str) -> str:
    """A Python string literal in ruff's preferred double quotes (JSON's escapes are Python's)."""
    return json.dumps(text, ensure_ascii=False)
