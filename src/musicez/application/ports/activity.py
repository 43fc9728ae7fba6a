"""Ports of the users' security activity and its single-use "this wasn't me" links."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from musicez.domain.activity import ActivityCursor, ActivityItem, SecurityLink
from musicez.domain.ids import SessionId, UserId


class ActivityLog(Protocol):
    """The users' security activity (one row per item), each call its own transaction."""

    async def add(self, items: list[ActivityItem]) -> None: ...

    async def page(
        self, user_id: UserId, limit: int, after: ActivityCursor | None, since: datetime
    ) -> list[ActivityItem]:
        """Up to `limit` items of the user newer than `since`, newest first, past `after`."""
        ...

    async def known_devices(self, user_id: UserId, names: set[str], since: datetime) -> set[str]:
        """Which of `names` the user logged in with at or after `since`."""
        ...

    async def device_names(self, user_id: UserId, session_ids: set[SessionId]) -> dict[SessionId, str]:
        """The device label each session logged in with, where its login is still kept."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete every item older than `before`; how many."""
        ...


class SecurityLinkRepository(Protocol):
    """Single-use "this wasn't me" links, stored only as a MAC."""

    async def add(self, token_hash: str, link: SecurityLink, expires_at: datetime, now: datetime) -> None: ...

    async def consume(self, token_hash: str, now: datetime) -> SecurityLink | None:
        """The link of a live, unused token, which is used up; None otherwise."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete expired and used links; how many."""
        ...
