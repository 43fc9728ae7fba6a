"""Sessions in process memory: the embedded default for one process, and fast tests.

Each method runs without awaiting in between, so on one event loop it is atomic, like the
Redis scripts it mirrors: the same refresh chain (generation, current and previous MACs),
the same per-session refresh window, and the same tombstones saying why a session ended,
kept a linger past the session's own end. Sessions and tombstones nobody touches again are
swept out now and then, so memory stays bounded by the sessions alive (plus the linger).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from musicez.application.ports import Clock
from musicez.domain.ids import SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason, Rotation, RotationOutcome, Session

DEFAULT_LINGER_SECONDS = 86_400  # as in the Redis store
_FIRST_SWEEP = 1024

Key = tuple[UserId, SessionId]


@dataclass(slots=True)
class _Record:
    session: Session
    current: str
    previous: str | None = None
    rotated_at: datetime | None = None
    generation: int = 0
    window_start: datetime | None = None
    window_count: int = 0

    def expiry_reason(self) -> str:
        s = self.session
        return EndReason.MAX_AGE if s.refresh_expires_at >= s.absolute_expires_at else EndReason.EXPIRED


class MemorySessionStore:
    def __init__(self, clock: Clock, linger_seconds: int = DEFAULT_LINGER_SECONDS) -> None:
        self._clock = clock
        self._linger = timedelta(seconds=linger_seconds)
        self._records: dict[Key, _Record] = {}
        # tombstones: reason, kept until, and after theft the generation then current (a token
        # of an earlier one was rotated away before the theft: reuse still)
        self._ended: dict[Key, tuple[str, datetime, int | None]] = {}
        self._next_sweep = _FIRST_SWEEP

    def _end(self, key: Key, reason: str) -> None:
        record = self._records.pop(key)
        stolen_at = record.generation if reason == EndReason.REUSE_DETECTED else None
        self._ended[key] = (reason, record.session.refresh_expires_at + self._linger, stolen_at)

    def _live(self, user_id: UserId, session_id: SessionId, now: datetime | None = None) -> _Record | None:
        key = (user_id, session_id)
        record = self._records.get(key)
        if record is None:
            return None
        if (now or self._clock.now()) >= record.session.refresh_expires_at:
            self._end(key, record.expiry_reason())
            return None
        return record

    def _sweep(self) -> None:
        """Drop what has run out; amortised O(1) per created session."""
        now = self._clock.now()
        for key in list(self._records):
            self._live(*key, now=now)
        for key in [k for k, (_, until, _) in self._ended.items() if until <= now]:
            del self._ended[key]
        self._next_sweep = max(_FIRST_SWEEP, 2 * (len(self._records) + len(self._ended)))

    async def create(self, session: Session, refresh_hash: str) -> None:
        key = (session.user_id, session.id)
        self._ended.pop(key, None)
        self._records[key] = _Record(session, refresh_hash)
        if len(self._records) + len(self._ended) >= self._next_sweep:
            self._sweep()

    def _over_limit(self, record: _Record, now: datetime, limit: RateLimit | None) -> int:
        """Count one successful refresh against the session's window; over it, the wait."""
        if limit is None:
            return 0
        if record.window_start is None or (now - record.window_start).total_seconds() >= limit.seconds:
            record.window_start, record.window_count = now, 0
        if record.window_count >= limit.amount:
            left = limit.seconds - (now - record.window_start).total_seconds()
            return max(1, math.ceil(left))
        record.window_count += 1
        return 0

    @staticmethod
    def _counted(rotation: Rotation, record: _Record, now: datetime, limit: RateLimit | None) -> Rotation:
        """The rotation with what is left of the session's refresh window (RateLimit-* headers)."""
        if limit is None or record.window_start is None:
            return rotation
        left = limit.seconds - (now - record.window_start).total_seconds()
        return replace(
            rotation, remaining=max(0, limit.amount - record.window_count), reset_after=max(1, math.ceil(left))
        )

    async def rotate(
        self,
        user_id: UserId,
        session_id: SessionId,
        *,
        presented_hash: str,
        successor_hash: str,
        now: datetime,
        grace_seconds: int,
        refresh_ttl_seconds: int,
        generation: int | None,
        limit: RateLimit | None = None,
    ) -> Rotation:
        key = (user_id, session_id)
        record = self._live(user_id, session_id, now)
        if record is None:
            reason = self._tombstone(key, now)
            stolen_at = self._ended[key][2] if reason is not None else None
            if stolen_at is not None and generation is not None and generation < stolen_at:
                return Rotation(RotationOutcome.REUSED, reason=reason)  # ended for theft already
            return Rotation(RotationOutcome.INVALID, reason=reason)
        if now >= record.session.absolute_expires_at:
            self._end(key, EndReason.MAX_AGE)
            return Rotation(RotationOutcome.INVALID, reason=EndReason.MAX_AGE)
        current = record.generation
        legacy = generation is None
        if generation is None:  # a pre-v1.1 token: placed in the chain by its MAC alone
            if presented_hash == record.current:
                generation = current
            elif presented_hash == record.previous:
                generation = current - 1
            else:
                return Rotation(RotationOutcome.INVALID)
        if generation == current and presented_hash == record.current:
            if wait := self._over_limit(record, now, limit):
                return Rotation(RotationOutcome.LIMITED, retry_after=wait, remaining=0, reset_after=wait)
            record.previous, record.current, record.rotated_at = presented_hash, successor_hash, now
            record.generation = current + 1
            refresh_expires = min(now + timedelta(seconds=refresh_ttl_seconds), record.session.absolute_expires_at)
            record.session = replace(record.session, last_used_at=now, refresh_expires_at=refresh_expires)
            return self._counted(Rotation(RotationOutcome.ROTATED, record.session), record, now, limit)
        if generation == current - 1 and presented_hash == record.previous:
            assert record.rotated_at is not None
            within_grace = grace_seconds > 0 and (now - record.rotated_at).total_seconds() <= grace_seconds
            if within_grace and record.current == successor_hash:
                # Counted against the session's refresh limit, never refused by it (the Redis
                # script says why: a 429 here would make the client's later retry of it theft).
                self._over_limit(record, now, limit)
                record.session = replace(record.session, last_used_at=now)
                return self._counted(Rotation(RotationOutcome.RETRIED, record.session), record, now, limit)
            if legacy and within_grace:  # its successor had the old format: not a theft signal
                return Rotation(RotationOutcome.INVALID)
            self._end(key, EndReason.REUSE_DETECTED)
            return Rotation(RotationOutcome.REUSED)
        if generation < current - 1:  # an authentic token older than the previous one: theft
            self._end(key, EndReason.REUSE_DETECTED)
            return Rotation(RotationOutcome.REUSED)
        return Rotation(RotationOutcome.INVALID)

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None:
        return self.cached(user_id, session_id)

    def cached(self, user_id: UserId, session_id: SessionId) -> Session | None:
        record = self._live(user_id, session_id)  # this process holds the store itself
        return record.session if record else None

    async def list_for_user(self, user_id: UserId, now: datetime) -> list[Session]:
        keys = [key for key in self._records if key[0] == user_id]
        return [record.session for key in keys if (record := self._live(*key, now=now))]

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        if self._live(user_id, session_id) is None:  # an expired session is already gone, as in Redis
            return False
        self._end((user_id, session_id), reason)
        return True

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "logout_all") -> int:
        doomed = [key for key in self._records if key[0] == user_id and key[1] != keep]
        live = [key for key in doomed if self._live(*key) is not None]  # expired ones are dropped, not counted
        for key in live:
            self._end(key, reason)
        return len(live)

    def _tombstone(self, key: Key, now: datetime) -> str | None:
        found = self._ended.get(key)
        if found is None:
            return None
        reason, until, _ = found
        if now >= until:
            del self._ended[key]
            return None
        return reason

    async def ended_reason(self, user_id: UserId, session_id: SessionId) -> str | None:
        if self._live(user_id, session_id) is not None:
            return None
        return self._tombstone((user_id, session_id), self._clock.now())

    async def ping(self) -> None:
        return None
