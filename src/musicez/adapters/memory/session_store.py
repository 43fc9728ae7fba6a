"""Sessions in process memory: the embedded default for one process, and fast tests.

Each method runs without awaiting in between, so on one event loop it is atomic, like the
Redis scripts it mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from musicez.application.ports import Clock
from musicez.domain.session import Rotation, RotationOutcome, Session


@dataclass(slots=True)
class _Record:
    session: Session
    current: str
    previous: str | None = None
    rotated_at: datetime | None = None
    older: set[str] = field(default_factory=set)


class MemorySessionStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[tuple[UUID, UUID], _Record] = {}

    def _live(self, user_id: UUID, session_id: UUID, now: datetime | None = None) -> _Record | None:
        key = (user_id, session_id)
        record = self._records.get(key)
        if record is None:
            return None
        if (now or self._clock.now()) >= record.session.refresh_expires_at:
            del self._records[key]
            return None
        return record

    async def create(self, session: Session, refresh_hash: str) -> None:
        self._records[(session.user_id, session.id)] = _Record(session, refresh_hash)

    async def rotate(
        self,
        user_id: UUID,
        session_id: UUID,
        *,
        presented_hash: str,
        successor_hash: str,
        now: datetime,
        grace_seconds: int,
        refresh_ttl_seconds: int,
    ) -> Rotation:
        record = self._live(user_id, session_id, now)
        if record is None:
            return Rotation(RotationOutcome.INVALID)
        if now >= record.session.absolute_expires_at:
            del self._records[(user_id, session_id)]
            return Rotation(RotationOutcome.INVALID)
        if presented_hash == record.current:
            if record.previous is not None:
                record.older.add(record.previous)
            record.previous, record.current, record.rotated_at = presented_hash, successor_hash, now
            refresh_expires = min(now + timedelta(seconds=refresh_ttl_seconds), record.session.absolute_expires_at)
            record.session = replace(record.session, last_used_at=now, refresh_expires_at=refresh_expires)
            return Rotation(RotationOutcome.ROTATED, record.session)
        if presented_hash == record.previous:
            assert record.rotated_at is not None
            within_grace = grace_seconds > 0 and (now - record.rotated_at).total_seconds() <= grace_seconds
            if within_grace and record.current == successor_hash:
                record.session = replace(record.session, last_used_at=now)
                return Rotation(RotationOutcome.RETRIED, record.session)
        if presented_hash == record.previous or presented_hash in record.older:
            del self._records[(user_id, session_id)]
            return Rotation(RotationOutcome.REUSED)
        return Rotation(RotationOutcome.INVALID)

    async def get(self, user_id: UUID, session_id: UUID) -> Session | None:
        record = self._live(user_id, session_id)
        return record.session if record else None

    async def is_active(self, user_id: UUID, session_id: UUID) -> bool:
        return self._live(user_id, session_id) is not None

    async def list_for_user(self, user_id: UUID, now: datetime) -> list[Session]:
        keys = [key for key in self._records if key[0] == user_id]
        return [record.session for key in keys if (record := self._live(*key, now=now))]

    async def revoke(self, user_id: UUID, session_id: UUID, reason: str = "logout") -> bool:
        if self._live(user_id, session_id) is None:  # an expired session is already gone, as in Redis
            return False
        del self._records[(user_id, session_id)]
        return True

    async def revoke_all(self, user_id: UUID, keep: UUID | None = None, reason: str = "logout_all") -> int:
        doomed = [key for key in self._records if key[0] == user_id and key[1] != keep]
        live = [key for key in doomed if self._live(*key) is not None]  # expired ones are dropped, not counted
        for key in live:
            del self._records[key]
        return len(live)

    async def ended_reason(self, user_id: UUID, session_id: UUID) -> str | None:
        return None  # tombstones: to do (issue 15)

    async def ping(self) -> None:
        return None
