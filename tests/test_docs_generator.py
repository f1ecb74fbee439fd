"""The docs generator: sections between markers, and where each setting is read."""

from __future__ import annotations

import ast

import pytest

from webduo.docs.readers import ASYNC, BOTH, SYNC, WEATHER, method_reads, part_of, readers, reads
from webduo.docs.sections import MarkerError, markers, replace_section
from webduo.docs.settings_reference import default_suffix, flag_help, settings_table
from webduo.settings import Settings


START, END = markers("table")


def test_a_section_is_replaced_between_its_markers_only() -> None:
    text = f"intro\n{START}\nold row\n{END}\noutro\n"
    assert replace_section(text, "table", "new row\n") == f"intro\n{START}\nnew row\n{END}\noutro\n"


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all\n",
        f"{START}\nonly the start\n",
        f"{START}\n{END}\n{START}\n{END}\n",
        f"{END}\nreversed\n{START}\n",
    ],
    ids=["none", "no-end", "twice", "reversed"],
)
def test_a_file_without_one_pair_of_markers_is_refused(text: str) -> None:
    with pytest.raises(MarkerError):
        replace_section(text, "table", "row\n")


def test_settings_are_read_where_the_engines_use_them() -> None:
    where = readers()
    assert where["max_connections"] == (SYNC,)  # the sync worker's accept cap
    assert where["cpu_pool_size"] == (ASYNC,)  # the async engine's process pool
    assert where["head_timeout"] == (BOTH,)  # the shared HTTP/1.1 exchange, and each listener
    assert where["custom_header_value"] == (BOTH,)  # through Settings.header_value_for
    assert where["weather_url"] == (WEATHER,)


def test_every_setting_is_read_somewhere() -> None:
    unread = [name for name, parts in readers().items() if not parts]
    assert not unread, f"settings no code reads (dead, or read under another name than `settings`): {unread}"


def test_reads_follow_settings_and_its_methods_but_no_other_object() -> None:
    fields = frozenset(Settings.model_fields)
    tree = ast.parse("settings.host\nself.settings.workers\nsettings.header_value_for('sync')\noptions.threads\n")
    assert sorted(reads(tree, fields, method_reads(fields))) == ["custom_header_value", "host", "workers"]


def test_a_module_outside_every_part_is_an_error_not_a_guess() -> None:
    assert part_of("webduo.engines.http1.parser") == BOTH
    with pytest.raises(LookupError):
        part_of("webduo.cli")


def test_defaults_carry_their_unit_size_and_range() -> None:
    fields = Settings.model_fields
    assert default_suffix(fields["max_body_size"]) == " bytes (1 MiB)"
    assert default_suffix(fields["head_timeout"]) == " s"
    assert default_suffix(fields["sync_port"]) == ", 0-65535"


def test_a_flag_setting_two_fields_names_both_variables() -> None:
    assert flag_help()["--port"].endswith("[env WEBDUO_SYNC_PORT / WEBDUO_ASYNC_PORT; default: 8001 / 8002]")


def test_table_cells_cannot_break_the_markdown() -> None:
    row = next(line for line in settings_table().splitlines() if "WEBDUO_CUSTOM_HEADER_VALUE" in line)
    assert "webduo/&lt;version&gt; (&lt;engine&gt;)" in row
    assert row.count("|") == 6
