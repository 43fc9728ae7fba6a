"""A Hypothesis fuzz of the one body-decoding function: any bytes give a JSON value or
`MalformedBody` (a 400), never another exception. `MUSICEZ_TEST_FUZZ_EXAMPLES` scales it."""

from __future__ import annotations

import contextlib
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicez.entrypoints.http.body import MalformedBody, decode_body

EXAMPLES = int(os.environ.get("MUSICEZ_TEST_FUZZ_EXAMPLES", "40")) * 10
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def decodes_or_refuses(raw: bytes) -> None:
    detail = None
    try:
        decode_body(raw)
    except MalformedBody as refused:
        detail = refused.detail
    if detail is not None:
        assert detail
        assert len(raw) < 3 or raw[:40].decode("latin-1") not in detail  # the input is never echoed


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes(raw: bytes) -> None:
    decodes_or_refuses(raw)


@FUZZ
@given(json_values, st.data())
def test_mutations_of_json(value: object, data: st.DataObject) -> None:
    raw = json.dumps(value).encode()
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    decodes_or_refuses(raw)


@FUZZ
@given(json_values)
def test_valid_json_round_trips(value: object) -> None:
    assert decode_body(json.dumps(value).encode()) == json.loads(json.dumps(value))


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (b'{"refresh_token": "\xff"}', "UTF-8"),
        (b'{"\xff": 1}', "UTF-8"),
    ],
)
def test_the_defects_of_issue_11(raw: bytes, detail: str) -> None:
    with pytest.raises(MalformedBody, match=detail):
        decode_body(raw)


def test_a_huge_number_is_refused_not_crashed() -> None:
    for raw in (b"1" * 10_000, b'{"a": ' + b"9" * 10_000 + b"}"):
        with contextlib.suppress(MalformedBody):
            decode_body(raw)
