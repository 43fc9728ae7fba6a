"""A short device label from the User-Agent, for sessions opened without a device name."""

from __future__ import annotations

from functools import lru_cache

import ua_parser

_MAX_UA = 256  # the family and OS are named at the start; parsing time grows with length


def device_label(user_agent: str | None) -> str | None:
    return _label(user_agent[:_MAX_UA]) if user_agent else None


@lru_cache(maxsize=1024)
def _label(user_agent: str) -> str | None:
    parsed = ua_parser.parse(user_agent)
    client = parsed.user_agent.family if parsed.user_agent and parsed.user_agent.family != "Other" else None
    system = parsed.os.family if parsed.os and parsed.os.family != "Other" else None
    if client and system:
        return f"{client} on {system}"
    return client or system or user_agent.split("/", 1)[0][:40] or None
