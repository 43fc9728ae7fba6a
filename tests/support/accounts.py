"""Account data the tests share: passwords the policy accepts, and unique addresses."""

from __future__ import annotations

import uuid

STRONG_PASSWORD = "Correct-Horse-Battery-9"
OTHER_STRONG_PASSWORD = "Tr0ub4dor&3-Mountain"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"
