"""Without Redis, sessions live in the server's memory, where a CLI command (`users disable`,
`users logout`, `users show`) in another process cannot reach them.

Endings travel one way: the command appends one line to a file in the data directory
(`revocations.log`), and the server's store reads what was appended before it answers anything
about a session (a `stat` per call, a read only when the file grew). So once the command
returns, the server ends those sessions before it answers any request that touches them: at
once, as with Redis, on this host. Only the two endings an operator makes travel this way (a
user's own logouts happen in the server itself).

What is live travels the other way (`HostSessionViews`): a server that holds sessions writes each
user's live ones, as `GET /auth/sessions` shows them, to a file of its own
(`sessions.d/<pid>/<user id>.json`, mode 0600, no token in it) whenever they change; a process that
holds none (the CLI) reads the files of the servers still running, and drops what has expired.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from musicez.adapters.memory.session_store import MemorySessionStore
from musicez.application.ports import Clock, EventSink
from musicez.domain.events import SessionsRevoked
from musicez.domain.ids import SessionId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.session import EndReason, Rotation, Session

FILE_NAME = "revocations.log"
VIEWS_DIR = "sessions.d"
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

    def publish(self, user_id: UserId, reason: str, seen: list[SessionId] | None = None) -> None:
        """One line, in one `write` to a file opened for appending: whole, whatever else writes.
        `seen`: the sessions the writer saw live (`HostSessionViews`) and already reported ended."""
        entry = {"o": self._origin, "u": str(user_id), "r": reason, "s": [str(i) for i in seen or ()]}
        line = json.dumps(entry) + "\n"
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def take(self) -> list[tuple[UserId, str, frozenset[str]]]:
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
        found: list[tuple[UserId, str, frozenset[str]]] = []
        for line in lines:
            try:
                entry = json.loads(line)
                if entry["o"] != self._origin and entry["r"] in SHARED_REASONS:
                    seen = frozenset(str(i) for i in entry.get("s", ()))
                    found.append((UserId(UUID(entry["u"])), str(entry["r"]), seen))
            except (ValueError, KeyError, TypeError):
                continue  # not a line this module wrote
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:  # someone else's process: alive
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def _session_record(session: Session) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "user_id": str(session.user_id),
        "device_name": session.device_name,
        "created_at": session.created_at.isoformat(),
        "last_used_at": session.last_used_at.isoformat(),
        "refresh_expires_at": session.refresh_expires_at.isoformat(),
        "absolute_expires_at": session.absolute_expires_at.isoformat(),
    }


def _session_of(record: dict[str, Any]) -> Session:
    return Session(
        id=SessionId(UUID(record["id"])),
        user_id=UserId(UUID(record["user_id"])),
        device_name=str(record["device_name"]),
        created_at=datetime.fromisoformat(record["created_at"]),
        last_used_at=datetime.fromisoformat(record["last_used_at"]),
        refresh_expires_at=datetime.fromisoformat(record["refresh_expires_at"]),
        absolute_expires_at=datetime.fromisoformat(record["absolute_expires_at"]),
    )


class HostSessionViews:
    """Each server's live sessions, per user, in files the other processes on the host read
    (see the module). A server's directory is named by its process id: a reader skips its own and
    those of processes no longer running, and a server removes those when it starts writing."""

    __slots__ = ("_mine", "_pid", "_root")

    def __init__(self, root: Path, pid: int | None = None) -> None:
        self._root = root
        self._pid = os.getpid() if pid is None else pid
        self._mine: Path | None = None  # made on the first write

    def _own(self) -> Path:
        if self._mine is None:
            mine = self._root / str(self._pid)
            with contextlib.suppress(OSError):
                for entry in self._root.iterdir():  # a process that ended, or an earlier one of this pid
                    if entry.name.isdigit() and (entry == mine or not _alive(int(entry.name))):
                        shutil.rmtree(entry, ignore_errors=True)
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            mine.mkdir(mode=0o700, exist_ok=True)
            self._mine = mine
        return self._mine

    def share(self, user_id: UserId, live: list[Session]) -> None:
        """This server's live sessions of the user, replacing what it shared before (none: removed)."""
        self._write(self._own() / f"{user_id}.json", [_session_record(session) for session in live])

    def _write(self, path: Path, records: list[dict[str, Any]]) -> None:
        if not records:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        temporary = path.with_name(f"{path.name}.{self._pid}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(records, file)
        os.replace(temporary, path)

    def _others(self) -> list[Path]:
        """The directories of the other servers still running."""
        try:
            entries = list(self._root.iterdir())
        except OSError:
            return []
        return [e for e in entries if e.name.isdigit() and int(e.name) != self._pid and _alive(int(e.name))]

    @staticmethod
    def _records(path: Path) -> list[dict[str, Any]]:
        try:
            records = json.loads(path.read_text())
        except (OSError, ValueError):
            return []  # none shared, or not a file this module wrote
        return records if isinstance(records, list) else []

    def read(self, user_id: UserId, now: datetime) -> list[Session]:
        """The user's sessions the other running servers on this host hold, still live at `now`."""
        found: list[Session] = []
        for entry in self._others():
            try:
                sessions = [_session_of(record) for record in self._records(entry / f"{user_id}.json")]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            found += [s for s in sessions if now < s.refresh_expires_at and now < s.absolute_expires_at]
        return found

    def forget(self, user_id: UserId, ended: list[SessionId]) -> None:
        """Sessions this process ended in another (`HostRevocations`): out of the views now,
        though their server rewrites its file only when it reads the line, on its next request."""
        gone = {str(session_id) for session_id in ended}
        for entry in self._others():
            path = entry / f"{user_id}.json"
            records = self._records(path)
            kept = [r for r in records if not (isinstance(r, dict) and r.get("id") in gone)]
            if len(kept) != len(records):
                with contextlib.suppress(OSError):
                    self._write(path, kept)


class HostSharedSessionStore:
    """The in-process session store, plus the operator's endings from other processes on this
    host (`HostRevocations`): every call first ends the sessions those name (one `sessions_revoked`
    event each, `by` the CLI, so the user's activity lists each session ended), and `revoke_all`
    with one of those reasons tells the other processes."""

    def __init__(
        self,
        inner: MemorySessionStore,
        revocations: HostRevocations,
        events: EventSink,
        clock: Clock,
        views: HostSessionViews | None = None,
    ) -> None:
        self._inner = inner
        self._revocations = revocations
        self._events = events
        self._clock = clock
        self._views = views
        self._holds = False  # this process has held a session: it shares them, and reads only its own

    async def _share(self, user_id: UserId) -> None:
        if self._holds and self._views is not None:
            self._views.share(user_id, await self._inner.list_for_user(user_id, self._clock.now()))

    async def _catch_up(self) -> None:
        for user_id, reason, seen in self._revocations.take():
            ending = [str(s.id) for s in await self._inner.list_for_user(user_id, self._clock.now())]
            if await self._inner.revoke_all(user_id, reason=reason):
                await self._share(user_id)
            # the sessions the CLI saw live are in its own event (one activity item each); these
            # are the ones it could not see (opened, or shared, after it looked)
            unseen = [i for i in ending if i not in seen]
            if unseen:
                ended = SessionsRevoked(
                    user_id=str(user_id), count=len(unseen), reason=reason, session_ids=unseen, by="cli"
                )
                self._events.record(ended)

    def _elsewhere(self, user_id: UserId, now: datetime) -> list[Session]:
        """The user's live sessions the servers on this host hold, for a process that holds none."""
        if self._holds or self._views is None:
            return []
        return self._views.read(user_id, now)

    async def create(self, session: Session, refresh_hash: str) -> None:
        await self._catch_up()
        await self._inner.create(session, refresh_hash)
        self._holds = True
        await self._share(session.user_id)

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
        await self._share(user_id)  # last used, expiry; or ended (theft)
        return rotation

    async def get(self, user_id: UserId, session_id: SessionId) -> Session | None:
        await self._catch_up()
        return await self._inner.get(user_id, session_id)

    def cached(self, user_id: UserId, session_id: SessionId) -> Session | None:
        if self._revocations.pending():  # `get` catches up first
            return None
        return self._inner.cached(user_id, session_id)

    async def list_for_user(self, user_id: UserId, now: datetime) -> list[Session]:
        await self._catch_up()
        return await self._inner.list_for_user(user_id, now) + self._elsewhere(user_id, now)

    async def revoke(self, user_id: UserId, session_id: SessionId, reason: str = "logout") -> bool:
        await self._catch_up()
        revoked = await self._inner.revoke(user_id, session_id, reason)
        await self._share(user_id)
        return revoked

    async def revoke_all(self, user_id: UserId, keep: SessionId | None = None, reason: str = "logout_all") -> int:
        await self._catch_up()
        count = await self._inner.revoke_all(user_id, keep, reason)
        await self._share(user_id)
        if keep is None and reason in SHARED_REASONS:
            # what the servers hold ends when they read the line
            elsewhere = [session.id for session in self._elsewhere(user_id, self._clock.now())]
            self._revocations.publish(user_id, reason, elsewhere)
            if elsewhere and self._views is not None:
                self._views.forget(user_id, elsewhere)
            count += len(elsewhere)
        return count

    async def ended_reason(self, user_id: UserId, session_id: SessionId) -> str | None:
        await self._catch_up()
        return await self._inner.ended_reason(user_id, session_id)

    async def ping(self) -> None:
        await self._inner.ping()
