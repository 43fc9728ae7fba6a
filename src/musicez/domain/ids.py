"""The ids of users, sessions and API keys. All three are UUIDs, so a swapped pair — a
`(session_id, user_id)` where `(user_id, session_id)` is meant — would run and be wrong; as
distinct types, the type checker refuses it. Free at run time: each is the UUID itself, and
`UserId(uuid)` returns its argument."""

from __future__ import annotations

from typing import NewType
from uuid import UUID

UserId = NewType("UserId", UUID)
SessionId = NewType("SessionId", UUID)
ApiKeyId = NewType("ApiKeyId", UUID)
