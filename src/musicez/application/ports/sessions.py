"""The session-store port: where sessions live, so revocation is immediate on every process."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from musicez.domain.ids import SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import Rotation, Session


class SessionStore(Protocol):
    """Where sessions live, so revocation is immediate on every server process."""

    async def create(self, session: Session, refresh_hash: str) -> None: ...

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
        """Atomically apply one refresh: rotate, retry within grace, detect reuse or refuse.

        `generation` is the presented (authentic) token's place in the chain (0 at login):
        the current one rotates, the previous one within grace is a retry, any older one is
        reuse by its number alone, so a session's storage never grows with its rotations.
        `generation` None: a pre-v1.1 token (no generation, no tag), judged by its MAC alone
        (current rotates, previous within grace retries, previous after grace is reuse) and
        never as theft by number, since its generation is unauthenticated.
        `limit` caps successful refreshes of the session (LIMITED over it, nothing rotates).
        """
        ...

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None: ...

    def cached(self, user_id: UserId, session_id: SessionId) -> Session | None:
        """The session, when this process can vouch for it without I/O (a cache it trusts, or a
        store in this very process); None says only "not known here": ask `get`. Never a
        session that `get` would not return at this moment (revocation stays strict). The
        guard's hot path: no coroutine, no round trip."""
        ...

    async def list_for_user(self, user_id: UserId, now: datetime) -> list[Session]: ...

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        """End one session, leaving a tombstone with `reason` (an EndReason) until it would have expired."""
        ...

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "logout_all") -> int:
        """End every session of the user except `keep`; how many ended. Each leaves a tombstone."""
        ...

    async def ended_reason(self, user_id: UserId, session_id: SessionId) -> str | None:
        """Why a session that no longer exists ended (an EndReason), while its tombstone lasts."""
        ...

    async def ping(self) -> None: ...
