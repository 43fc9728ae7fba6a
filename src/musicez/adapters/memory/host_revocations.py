"""Without Redis, sessions live in the server's memory, where a CLI command (`users disable`,
`users logout`) in another process cannot reach them. This is how it tells them: the command
appends one line to a file in the data directory (`revocations.log`), and the server's store
reads what was appended before it answers anything about a session (a `stat` per call, a read
only when the file grew). So once the command returns, the server ends those sessions before it
answers any request that touches them: at once, as with Redis, on this host. Only the two
endings an operator makes travel this way (a user's own logouts happen in the server itself).
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime
from pathlib import Path
from uuid import UUID

from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.application.ports import Clock, EventSink
from musicez.domain.events import SessionsRevoked
from musicez.domain.ids import SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason, Rotation, Session

FILE_NAME = "revocations.log"
SHARED_REASONS = frozenset({EndReason.ACCOUNT_DISABLED, EndReason.ADMIN_LOGOUT})
MAX_READ = 1 << 20  # bytes read per catch-up; the rest on the next call


class HostRevocations:
    """An append-only file of `{"o": origin, "u": user id, "r": reason}` lines. Each process
    reads only what was appended after it started (its store was empty before), and skips its
    own lines."""

    __slots__ = ("_offset", "_origin", "_partial", "_path")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._origin = secrets.token_hex(8)
        self._offset = self._size()
        self._partial = b""

    def _size(self) -> int:
        try:
            return os.stat(self._path).st_size
        except OSError:
            return 0

    def pending(self) -> bool:
        return self._size() != self._offset

    def publish(self, user_id: UserId, reason: str) -> None:
        """One line, in one `write` to a file opened for appending: whole, whatever else writes."""
        line = json.dumps({"o": self._origin, "u": str(user_id), "r": reason}) + "\n"
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def take(self) -> list[tuple[UserId, str]]:
        """The other processes' lines appended since the last call."""
        size = self._size()
        if size == self._offset:
            return []
        if size < self._offset:  # the file was replaced: read the new one from its start
            self._offset, self._partial = 0, b""
        try:
            with open(self._path, "rb") as file:
                file.seek(self._offset)
                data = file.read(min(size - self._offset, MAX_READ))
        except OSError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        found: list[tuple[UserId, str]] = []
        for line in lines:
            try:
                entry = json.loads(line)
                if entry["o"] != self._origin and entry["r"] in SHARED_REASONS:
                    found.append((UserId(UUID(entry["u"])), str(entry["r"])))
            except (ValueError, KeyError, TypeError):
                continue  # not a line this module wrote
        return found


class HostSharedSessionStore:
    """The in-process session store, plus the operator's endings from other processes on this
    host (`HostRevocations`): every call first ends the sessions those name (one `sessions_revoked`
    event each, `by` the CLI, so the user's activity lists each session ended), and `revoke_all`
    with one of those reasons tells the other processes."""

    def __init__(
        self, inner: MemorySessionStore, revocations: HostRevocations, events: EventSink, clock: Clock
    ) -> None:
        self._inner = inner
        self._revocations = revocations
        self._events = events
        self._clock = clock

    async def _catch_up(self) -> None:
        for user_id, reason in self._revocations.take():
            ending = [str(s.id) for s in await self._inner.list_for_user(user_id, self._clock.now())]
            count = await self._inner.revoke_all(user_id, reason=reason)
            if count:
                self._events.record(
                    SessionsRevoked(user_id=str(user_id), count=count, reason=reason, session_ids=ending, by="cli")
                )

    async def create(self, session: Session, refresh_hash: str) -> None:
        await self._catch_up()
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
        await self._catch_up()
        return await self._inner.rotate(
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

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None:
        await self._catch_up()
        return await self._inner.get(user_id, session_id)

    def cached(self, user_id: UserId, session_id: SessionId) -> Session | None:
        if self._revocations.pending():  # `get` catches up first
            return None
        return self._inner.cached(user_id, session_id)

    async def list_for_user(self, user_id: UserId, now: datetime) -> list[Session]:
        await self._catch_up()
        return await self._inner.list_for_user(user_id, now)

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        await self._catch_up()
        return await self._inner.revoke(user_id, session_id, reason)

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "logout_all") -> int:
        await self._catch_up()
        count = await self._inner.revoke_all(user_id, keep, reason)
        if keep is None and reason in SHARED_REASONS:
            self._revocations.publish(user_id, reason)
        return count

    async def ended_reason(self, user_id: UserId, session_id: SessionId) -> str | None:
        await self._catch_up()
        return await self._inner.ended_reason(user_id, session_id)

    async def ping(self) -> None:
        await self._inner.ping()
