"""deploy/nginx/webduo.conf.template read as text: what the running fleet cannot show."""

from __future__ import annotations

import re

import pytest

from tests.fleet.nginx import TEMPLATE, placeholders, render
from webduo.core.http import reason_phrase


def status_map(variable: str) -> dict[int, str]:
    """The ``map $status $<variable>`` block of the template, status -> value."""
    block = re.search(rf"map \$status \${variable} \{{(.*?)\}}", TEMPLATE.read_text(), re.DOTALL)
    assert block is not None, f"no map for ${variable}"
    return {int(code): text for code, text in re.findall(r'^\s*(\d{3}) "([^"]*)";', block.group(1), re.MULTILINE)}


def test_nginx_errors_carry_webduos_reason_phrases() -> None:
    messages = status_map("webduo_error_message")
    assert messages == {status: reason_phrase(status) for status in messages}
    pages = re.search(r"error_page ([\d ]+) /_webduo_proxy_error;", TEMPLATE.read_text())
    assert pages is not None
    codes = {int(code) for code in pages.group(1).split()}
    assert codes == set(messages) == set(status_map("webduo_error_detail"))


def test_render_repeats_a_replica_line_per_replica_and_fills_the_rest() -> None:
    text = "upstream u {\n    server ${SERVERS} max_fails=2;\n    keepalive ${KEEP};\n}\n"
    assert placeholders(text) == {"SERVERS", "KEEP"}
    assert render(text, {"SERVERS": ["127.0.0.1:1", "127.0.0.1:2"], "KEEP": "8"}) == (
        "upstream u {\n    server 127.0.0.1:1 max_fails=2;\n    server 127.0.0.1:2 max_fails=2;\n    keepalive 8;\n}\n"
    )
    with pytest.raises(KeyError, match="KEEP"):
        render(text, {"SERVERS": ["127.0.0.1:1"]})
