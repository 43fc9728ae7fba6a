"""`wire_time`: the instant a response struct holds, which msgspec writes as API.md shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec

from musicez.entrypoints.http.schemas import wire_time


def test_an_instant_is_written_in_utc_whole_seconds_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    value = datetime(2026, 12, 1, 11, 0, 0, 999_999, tzinfo=paris)  # a fraction is cut, never rounded up

    assert msgspec.json.encode(wire_time(value)) == b'"2026-12-01T10:00:00Z"'
    assert msgspec.json.encode(wire_time(value.astimezone(UTC))) == b'"2026-12-01T10:00:00Z"'


def test_the_same_instant_is_made_once() -> None:
    value = datetime(2026, 12, 1, 10, 0, 0, 123_456, tzinfo=UTC)

    assert wire_time(value) is wire_time(datetime(2026, 12, 1, 10, 0, 0, 123_456, tzinfo=UTC))
