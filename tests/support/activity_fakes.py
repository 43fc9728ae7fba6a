"""In-memory fakes of the activity ports, run through the same contract suite as the SQL ones."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from musicez.domain.activity import ActivityCursor, ActivityItem, ActivityType, SecurityLink
from musicez.domain.ids import SessionId, UserId


class FakeActivityLog:
    def __init__(self) -> None:
        self.items: dict[UUID, ActivityItem] = {}

    async def add(self, items: list[ActivityItem]) -> None:
        for item in items:
            self.items.setdefault(item.id, item)  # one already stored is skipped (a repeated write)

    async def page(
        self, user_id: UserId, limit: int, after: ActivityCursor | None, since: datetime
    ) -> list[ActivityItem]:
        own = [i for i in self.items.values() if i.user_id == user_id and i.at >= since]
        if after is not None:
            own = [i for i in own if (i.at, i.id.bytes) < (after.at, after.id.bytes)]
        return sorted(own, key=lambda i: (i.at, i.id.bytes), reverse=True)[:limit]

    async def known_devices(self, user_id: UserId, names: set[str], since: datetime) -> set[str]:
        return {
            i.device_name
            for i in self.items.values()
            if i.user_id == user_id and i.type == ActivityType.LOGIN and i.at >= since and i.device_name in names
        }

    async def device_names(self, user_id: UserId, session_ids: set[SessionId]) -> dict[SessionId, str]:
        return {
            i.session_id: i.device_name
            for i in self.items.values()
            if i.user_id == user_id
            and i.type == ActivityType.LOGIN
            and i.session_id in session_ids
            and i.session_id is not None
            and i.device_name is not None
        }

    async def purge(self, before: datetime) -> int:
        old = [k for k, i in self.items.items() if i.at < before]
        for key in old:
            del self.items[key]
        return len(old)


class FakeSecurityLinks:
    def __init__(self) -> None:
        self.links: dict[str, tuple[SecurityLink, datetime, bool]] = {}

    async def add(self, token_hash: str, link: SecurityLink, expires_at: datetime, now: datetime) -> None:
        self.links[token_hash] = (link, expires_at, False)

    async def consume(self, token_hash: str, now: datetime) -> SecurityLink | None:
        found = self.links.get(token_hash)
        if found is None or found[2] or found[1] <= now:
            return None
        self.links[token_hash] = (found[0], found[1], True)
        return found[0]

    async def purge(self, now: datetime) -> int:
        dead = [k for k, (_, expires, used) in self.links.items() if used or expires <= now]
        for key in dead:
            del self.links[key]
        return len(dead)
