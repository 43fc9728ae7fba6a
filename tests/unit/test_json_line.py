"""`json_line`, the JSON log format's renderer: one ASCII line that reads back as the record,
whatever text a client put in it, and the same values as structlog's stdlib renderer wrote."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from musicez.entrypoints.logs import json_line

# What a record's values are: text (any code point a client can send), numbers, flags, nothing,
# and lists and dicts of them.
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500)
@given(st.dictionaries(st.text(), values, max_size=6))
def test_a_line_is_ascii_one_line_and_reads_back_as_the_record(record: dict[str, Any]) -> None:
    line = json_line({"event": "something_happened", **record})
    assert line.isascii()
    assert line.isprintable()  # no raw line break, ESC or other control: one harmless line
    assert json.loads(line) == {"event": "something_happened", **record}
    assert json.loads(line) == json.loads(json.dumps({"event": "something_happened", **record}))


def test_del_is_escaped_wherever_it_is() -> None:
    """DEL (U+007F) is ASCII, and JSON may leave it raw inside a string: found by the property
    above with a random seed; pinned here for every run."""
    record = {"\x7f": "a\x7fb", "nested": ["\x7f", {"k\x7f": "é\x7f"}]}
    line = json_line({"event": "x", **record})
    assert line.isascii()
    assert line.isprintable()
    assert json.loads(line) == {"event": "x", **record}


def test_a_value_json_has_no_type_for_is_written_as_its_structlog_form_or_its_repr() -> None:
    class Told:
        def __structlog__(self) -> str:
            return "as told"

    class Untold:
        def __repr__(self) -> str:
            return "<untold \u202e>"

    session = uuid.UUID("0193b7c2-1d2e-7f00-8000-000000000002")
    when = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
    line = json_line({"event": "e", "told": Told(), "untold": Untold(), "session": session, "at": when})
    assert line.isascii()
    assert json.loads(line) == {
        "event": "e",
        "told": "as told",
        "untold": "<untold \u202e>",
        "session": str(session),
        "at": "2026-12-07T01:02:03Z",
    }


def test_a_key_json_has_no_type_for_is_written_as_its_repr() -> None:
    """The stdlib renderer failed the whole line on such a key (its `default` sees values only)."""
    line = json_line({"event": "e", "by_pair": {(1, 2): "x", None: "\u2028"}})
    assert line.isascii()
    assert json.loads(line)["by_pair"] == {"(1, 2)": "x", "None": "\u2028"}
