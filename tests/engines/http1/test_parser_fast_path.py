"""The parser's cheaper spellings and fast paths give exactly what the plain ones give.

The fast paths exist for speed only (bench/parser_cost.py); each is checked here against the
straightforward form it replaces, on generated input, and every refusal keeps its status and
its detail whichever path met it first.
"""

from __future__ import annotations

import re
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from webduo.engines.http1 import parser


# RFC 9110 §5.5 spelled literally: value = visible *( *(SP / HTAB) visible ).
RFC_FIELD_LINE: Final = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\x21-\x7e\x80-\xff](?:[ \t]*[\x21-\x7e\x80-\xff])*)?[ \t]*"
)
# Bytes that make a field line interesting: separators, whitespace, controls, obs-text.
ALPHABET: Final = b"Ab:; \t\x00\r\n\x7f\x80\xff,"


def some_bytes(alphabet: bytes, max_size: int) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(alphabet), max_size=max_size).map(bytes)


# Mostly near-valid lines (name, colon, value), where the differences hide; sometimes anything.
LINE_BYTES: Final = st.one_of(
    st.tuples(some_bytes(b"Ab-", 4), st.sampled_from([b":", b": ", b" :", b""]), some_bytes(ALPHABET, 12)).map(
        b"".join
    ),
    some_bytes(ALPHABET, 24),
)


@settings(max_examples=2000, deadline=None)
@given(LINE_BYTES)
def test_field_line_pattern_is_the_rfc_grammar(line: bytes) -> None:
    literal = RFC_FIELD_LINE.fullmatch(line)
    fast = parser._FIELD_LINE.fullmatch(line)
    assert (literal and literal.groups()) == (fast and fast.groups())
