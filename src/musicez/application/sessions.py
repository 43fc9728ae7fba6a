"""Refresh rotation with reuse detection, and the logout family."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from musicez.application.macs import refresh_hash
from musicez.application.policies import RefreshPolicy, SessionPolicy
from musicez.application.ports import Clock, EventSink, KeyedHasher, RateDecision, RateObserver, SessionStore
from musicez.application.session_opening import SessionOpener, TokenGrant, is_authentic, successor_of
from musicez.application.throttle import FailureBudget
from musicez.domain.errors import (
    InvalidRefreshToken,
    RateLimited,
    RefreshTokenReused,
    SessionNotFound,
)
from musicez.domain.events import (
    RefreshRejected,
    RefreshRetried,
    RefreshReused,
    RefreshRotated,
    SessionRevoked,
    SessionsRevoked,
    Throttled,
)
from musicez.domain.ids import SessionId, UserId
from musicez.domain.principal import UserPrincipal
from musicez.domain.refresh_token import RefreshToken
from musicez.domain.session import EndReason, RotationOutcome, Session


async def live_session_ids(
    sessions: SessionStore, user_id: UserId, now: datetime, keep: SessionId | None = None
) -> list[str]:
    """The sessions a revoke-all is about to end, for one activity item each."""
    return [str(s.id) for s in await sessions.list_for_user(user_id, now) if s.id != keep]


@dataclass(frozen=True, slots=True)
class RotateRefresh:
    sessions: SessionStore
    macs: KeyedHasher
    opener: SessionOpener
    clock: Clock
    session_policy: SessionPolicy
    events: EventSink
    budget: FailureBudget
    refresh_policy: RefreshPolicy
    observer: RateObserver  # the session's refresh limit, for the response's RateLimit-* headers

    async def execute(self, presented: str, *, client: str | None = None) -> TokenGrant:
        """Rotate; `client` (the caller's address) is charged for every failed refresh and
        refused, before any lookup, once it has spent its budget."""
        budget_key = f"refresh_failures:{client}" if client is not None else None
        if budget_key is not None:
            self.budget.check(budget_key)
        try:
            return await self._rotate(presented)
        except (InvalidRefreshToken, RefreshTokenReused):
            if budget_key is not None:
                await self.budget.fail(budget_key, self.refresh_policy.failures_per_client)
            raise

    async def _rotate(self, presented: str) -> TokenGrant:
        token = RefreshToken.parse(presented)
        if not token.legacy and not is_authentic(self.macs, token):  # not minted here: no lookup at all
            self.events.record(RefreshRejected(reason="bad_tag"))
            raise InvalidRefreshToken()
        successor = successor_of(self.macs, token, presented).encode()
        now = self.clock.now()
        rotation = await self.sessions.rotate(
            token.user_id,
            token.session_id,
            presented_hash=refresh_hash(self.macs, presented),
            successor_hash=refresh_hash(self.macs, successor),
            now=now,
            grace_seconds=self.session_policy.refresh_reuse_grace,
            refresh_ttl_seconds=self.session_policy.refresh_token_ttl,
            generation=None if token.legacy else token.generation,
            limit=self.refresh_policy.per_session,
        )
        user_id, session_id = str(token.user_id), str(token.session_id)
        if rotation.remaining is not None:
            allowed = rotation.outcome is not RotationOutcome.LIMITED
            limit = self.refresh_policy.per_session.amount
            self.observer.observe(RateDecision(allowed, limit, rotation.remaining, rotation.reset_after))
        if rotation.outcome is RotationOutcome.LIMITED:
            self.events.record(Throttled(scope="refresh_session", user_id=user_id, session_id=session_id))
            raise RateLimited(rotation.retry_after)
        if rotation.outcome is RotationOutcome.REUSED:
            if rotation.reason is None:  # this call found the theft and ended the session
                self.events.record(RefreshReused(user_id=user_id, session_id=session_id))
            else:  # rotated away before a theft that ended the session already: reuse all the same
                self.events.record(RefreshRejected(user_id=user_id, session_id=session_id, reason=rotation.reason))
            raise RefreshTokenReused()
        if rotation.session is None or rotation.outcome is RotationOutcome.INVALID:
            self.events.record(RefreshRejected(user_id=user_id, session_id=session_id, reason=rotation.reason))
            if rotation.reason is not None:
                raise InvalidRefreshToken("The session of this refresh token has ended", reason=rotation.reason)
            raise InvalidRefreshToken()
        succeeded = RefreshRetried if rotation.outcome is RotationOutcome.RETRIED else RefreshRotated
        self.events.record(succeeded(user_id=user_id, session_id=session_id))
        return self.opener.grant(rotation.session, successor, now)


@dataclass(frozen=True, slots=True)
class Logout:
    sessions: SessionStore
    events: EventSink

    async def execute(self, principal: UserPrincipal) -> None:
        await self.sessions.revoke(principal.user_id, principal.session_id, reason=EndReason.LOGOUT)
        self.events.record(
            SessionRevoked(
                user_id=str(principal.user_id), session_id=str(principal.session_id), reason=EndReason.LOGOUT
            )
        )


@dataclass(frozen=True, slots=True)
class RevokeAllSessions:
    sessions: SessionStore
    events: EventSink
    clock: Clock

    async def execute(self, user_id: UserId, keep: SessionId | None = None, reason: str | None = None) -> int:
        """`reason` (an EndReason) defaults to logout-all, or to "ended from another device"
        when one session is kept (logout-others)."""
        if reason is None:
            reason = EndReason.LOGOUT_ALL if keep is None else EndReason.ENDED_FROM_OTHER_DEVICE
        ending = await live_session_ids(self.sessions, user_id, self.clock.now(), keep)
        count = await self.sessions.revoke_all(user_id, keep=keep, reason=reason)
        self.events.record(
            SessionsRevoked(
                user_id=str(user_id), count=count, kept=str(keep) if keep else None, reason=reason, session_ids=ending
            )
        )
        return count


@dataclass(frozen=True, slots=True)
class RevokeOtherSessions:
    revoke_all: RevokeAllSessions

    async def execute(self, principal: UserPrincipal) -> int:
        return await self.revoke_all.execute(
            principal.user_id, keep=principal.session_id, reason=EndReason.ENDED_FROM_OTHER_DEVICE
        )


@dataclass(frozen=True, slots=True)
class RevokeSession:
    sessions: SessionStore
    events: EventSink

    async def execute(self, principal: UserPrincipal, session_id: SessionId) -> None:
        own = session_id == principal.session_id
        reason = EndReason.LOGOUT if own else EndReason.ENDED_FROM_OTHER_DEVICE
        if not await self.sessions.revoke(principal.user_id, session_id, reason=reason):
            raise SessionNotFound()
        self.events.record(
            SessionRevoked(user_id=str(principal.user_id), session_id=str(session_id), reason=reason, by_delete=True)
        )


@dataclass(frozen=True, slots=True)
class ListSessions:
    sessions: SessionStore
    clock: Clock

    async def execute(self, principal: UserPrincipal) -> list[Session]:
        found = await self.sessions.list_for_user(principal.user_id, self.clock.now())
        return sorted(found, key=lambda s: s.created_at, reverse=True)
