"""Durations such as `30m`, `12h`, `90d` or a plain number of seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d{1,10})\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=3650)


class InvalidDuration(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise InvalidDuration(f"invalid duration {text!r}: expected 30m, 12h, 90d or a number of seconds")
    value = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if value <= timedelta(0) or value > MAX_DURATION:
        raise InvalidDuration(f"invalid duration {text!r}: must be more than 0 and at most 10 years")
    return value
