"""`log_safe`: client-controlled text in a log line stays one line and reads back unambiguously."""

from __future__ import annotations

import codecs

from hypothesis import given, settings
from hypothesis import strategies as st

from musicez.entrypoints.logs import log_safe

LIMIT = 64


@settings(max_examples=500)
@given(st.text())
def test_the_result_is_printable_and_bounded(text: str) -> None:
    safe = log_safe(text, LIMIT)
    assert safe.isprintable()
    assert len(safe) <= 10 * LIMIT  # one character's escape is at most `\U0010ffff`


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(max_codepoint=0xFF)))
def test_every_escape_stands_for_one_character(text: str) -> None:
    """Decoding the escapes gives back exactly what the client sent (within the limit): no two
    inputs log alike, so `\\n` sent as two characters never reads as an escaped line break."""
    safe = log_safe(text, LIMIT)
    assert codecs.decode(safe.encode("latin-1"), "unicode_escape") == text[:LIMIT]


def test_a_literal_backslash_n_is_not_a_line_break() -> None:
    assert log_safe("/a\\nb", LIMIT) == "/a\\\\nb"
    assert log_safe("/a\nb", LIMIT) == "/a\\nb"
    assert log_safe("/a\\nb", LIMIT) != log_safe("/a\nb", LIMIT)


def test_plain_text_is_kept_as_it_is() -> None:
    assert log_safe("/auth/me", LIMIT) == "/auth/me"
    assert log_safe("/müsic", LIMIT) == "/müsic"
