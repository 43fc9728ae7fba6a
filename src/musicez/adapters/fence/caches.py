"""Decorators over the ports the guard reads: cached while the fence is trusted, revocations fenced.

`FencedSessionStore` wraps any `SessionStore`: `get` is served from the process's cache while
the fence is trusted (and the session has not expired locally); every call that ends sessions
goes to the inner store first, then is published, and returns only after the fence's lease.
`FencedApiKeyLookup` does the same for API-key rows (`RevokeApiKey` publishes through the
`RevocationNotifier` port). Anything the decorators do not know passes through unchanged.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import cast

from musicez.adapters.fence.core import session_message, user_message
from musicez.adapters.fence.metrics import API_KEY, SESSION
from musicez.adapters.fence.redis import RedisFence
from musicez.application.ports import ApiKeyLookup, Clock, SessionStore
from musicez.domain.api_key import ApiKey
from musicez.domain.ids import ApiKeyId, SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import Rotation, RotationOutcome, Session


class FencedSessionStore:
    def __init__(self, inner: SessionStore, fence: RedisFence, clock: Clock) -> None:
        self._inner = inner
        self._channel = fence
        self._fence = fence.fence
        self._clock = clock

    def cached(self, user_id: UserId, session_id: SessionId) -> Session | None:
        """A hit in the cache while the fence trusts it (a live session), else None."""
        self._channel.start()
        fence = self._fence
        if fence.trusted(time.monotonic()):
            key = (user_id, session_id)
            cached = cast(Session | None, fence.sessions.get(key))
            if cached is not None:
                now = self._clock.now()
                if now < cached.refresh_expires_at and now < cached.absolute_expires_at:
                    return cached
                fence.sessions.discard(key)
        return None

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None:
        cached = self.cached(user_id, session_id)
        if cached is not None:
            return cached
        fence = self._fence
        if fence.subscribed and (user_id, session_id) in fence.sessions and await self._channel.wait_trusted():
            cached = self.cached(user_id, session_id)  # the fence only lapsed: its next ping, not a read
            if cached is not None:
                return cached
        self._channel.metrics.store_read(SESSION, fence.trusted(time.monotonic()))
        key = (user_id, session_id)
        ticket = fence.sessions.begin(key, fence.epoch)
        try:
            session = await self._inner.get(user_id, session_id)
        except BaseException:
            fence.sessions.abandon(ticket)
            raise
        fence.sessions.finish(ticket, session, fence.epoch, fence.subscribed)
        return session

    async def create(self, session: Session, refresh_hash: str) -> None:
        await self._inner.create(session, refresh_hash)

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
        message = session_message(user_id, session_id)
        # The script may have run (a theft found) with its reply lost: the others are told all the same.
        with self._told_if_it_fails(message):
            rotation = await self._inner.rotate(
                user_id,
                session_id,
                presented_hash=presented_hash,
                successor_hash=successor_hash,
                now=now,
                grace_seconds=grace_seconds,
                refresh_ttl_seconds=refresh_ttl_seconds,
                generation=generation,
                limit=limit,
            )
        if rotation.outcome is RotationOutcome.REUSED:  # theft: the session is gone, strictly
            await self._channel.revoked(message)
        else:  # rotated (new expiry here at once; other processes re-read at the old one) or gone
            self._fence.apply(message)
        return rotation

    @contextlib.contextmanager
    def _told_if_it_fails(self, message: bytes) -> Iterator[None]:
        """Around a revoking write: if it fails, its write may still have landed (its reply lost),
        so the invalidation goes to the other processes all the same (`RedisFence.undelivered`)."""
        try:
            yield
        except BaseException:
            self._channel.undelivered(message)
            raise

    async def list_for_user(self, user_id: UserId, now: datetime) -> list[Session]:
        return await self._inner.list_for_user(user_id, now)

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        message = session_message(user_id, session_id)
        with self._told_if_it_fails(message):
            ended = await self._inner.revoke(user_id, session_id, reason=reason)
        # Even when it was gone already: a concurrent revoker may still be inside its fence.
        await self._channel.revoked(message)
        return ended

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "logout_all") -> int:
        message = user_message(user_id, keep)
        with self._told_if_it_fails(message):
            count = await self._inner.revoke_all(user_id, keep=keep, reason=reason)
        await self._channel.revoked(message)
        return count

    async def ended_reason(self, user_id: UserId, session_id: SessionId) -> str | None:
        return await self._inner.ended_reason(user_id, session_id)

    async def ping(self) -> None:
        await self._inner.ping()


class FencedApiKeyLookup:
    def __init__(self, inner: ApiKeyLookup, fence: RedisFence) -> None:
        self._inner = inner
        self._channel = fence
        self._fence = fence.fence

    def cached(self, key_id: ApiKeyId) -> ApiKey | None:
        """A hit in the cache while the fence trusts it, else None. Revoked or expired rows too:
        the guard refuses them by their times."""
        self._channel.start()
        fence = self._fence
        if fence.trusted(time.monotonic()):
            return cast(ApiKey | None, fence.keys.get(key_id))
        return None

    async def find(self, key_id: ApiKeyId) -> ApiKey | None:
        cached = self.cached(key_id)
        if cached is not None:
            return cached
        fence = self._fence
        if fence.subscribed and key_id in fence.keys and await self._channel.wait_trusted():
            cached = self.cached(key_id)  # the fence only lapsed: its next ping, not a Postgres read
            if cached is not None:
                return cached
        self._channel.metrics.store_read(API_KEY, fence.trusted(time.monotonic()))
        ticket = fence.keys.begin(key_id, fence.epoch)
        try:
            key = await self._inner.find(key_id)
        except BaseException:
            fence.keys.abandon(ticket)
            raise
        fence.keys.finish(ticket, key, fence.epoch, fence.subscribed)
        return key
