"""Security activity, written by the security events themselves (one source of truth).

`ActivityRecorder` wraps the event sink: every `record(...)` still goes to the logs, and the
events that concern a user also become activity items. Items raised while an HTTP request is
handled are buffered and written before its response starts (so a client that reads its
feed right after sees them, on any process); others are written in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from musicez.application.ports import ActivityLog, Clock, EventSink, SecretGenerator, SecurityLinkRepository
from musicez.application.session_opening import DEVICE_NAME_MAX
from musicez.domain.activity import NEW_DEVICE_WINDOW, ActivityCursor, ActivityItem, ActivityType
from musicez.domain.errors import ServiceUnavailable
from musicez.domain.events import LoginFailed, SecurityEvent
from musicez.domain.ids import SessionId, UserId
from musicez.domain.session import EndReason

log = logging.getLogger("musicez.activity")

MAX_PAGE = 100
WARN_EVERY_SECONDS = 60.0
LOGIN_FAILED = LoginFailed.name


@dataclass(frozen=True, slots=True)
class Notice:
    """A security mail an item asks for, sent after the item is written."""

    kind: str  # "new_sign_in" | "password_changed"
    item: ActivityItem


@dataclass(slots=True)
class _Pending:
    item: ActivityItem
    notify: str | None = None


def _uuid(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str) and value:
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def _ids(value: object) -> list[SessionId]:
    if not isinstance(value, list | tuple | set | frozenset):
        return []
    return [SessionId(u) for u in (_uuid(v) for v in value) if u is not None]


# The events `activity_for` makes items of (its cases below; a test holds the two together). The
# recorder skips every other event before reading its fields: a refresh's own event is the most
# frequent one, and is no activity.
ACTIVITY_EVENTS = frozenset(
    {
        "login_succeeded",
        "session_opened",
        "login_failed",
        "password_change_failed",
        "session_revoked",
        "sessions_revoked",
        "refresh_reused",
        "password_changed",
        "password_reset_completed",
        "account_disabled",
        "account_enabled",
        "admin_logout",
    }
)


def activity_for(event: str, fields: dict[str, object], now: datetime, new_id: Callable[[], UUID]) -> list[_Pending]:
    """The activity items (and mails) one security event means for its user; none for others."""
    user = _uuid(fields.get("user_id"))
    if user is None:
        if event == LOGIN_FAILED and fields.get("reason") is None:
            # An unknown email's failed login: an item of a user that does not exist, written as a
            # known account's is (the write keeps no item of an unknown user), so that both failures
            # take the same time (API.md: login answers them "alike, in the same time").
            return [_Pending(ActivityItem(new_id(), UserId(new_id()), ActivityType.LOGIN_FAILED, now))]
        return []
    user_id, session = UserId(user), _uuid(fields.get("session_id"))
    session_id = None if session is None else SessionId(session)
    device = fields.get("device_name")
    # Printable only (no NUL or control characters reach the table or a mail), as the session caps it.
    device_name = "".join(c for c in device if c.isprintable())[:DEVICE_NAME_MAX] if isinstance(device, str) else None
    reason = fields.get("reason")
    by_admin = {"by": "admin"} if fields.get("by") is not None else {}

    def item(kind: str, sid: SessionId | None = session_id, detail: dict[str, str] | None = None) -> ActivityItem:
        own_device = device_name if sid == session_id else None
        return ActivityItem(new_id(), user_id, kind, now, sid, own_device, None, detail or {})

    def ended(end_reason: str, extra: dict[str, str] | None = None) -> list[_Pending]:
        detail = {"reason": end_reason, **(extra or {})}
        return [_Pending(item(ActivityType.SESSION_ENDED, sid, detail)) for sid in _ids(fields.get("session_ids"))]

    match event:
        case "login_succeeded":
            return [_Pending(item(ActivityType.LOGIN), notify="new_sign_in")]
        case "session_opened":  # registration's first session: a login, but no "new sign-in" mail
            return [_Pending(item(ActivityType.LOGIN))]
        case "login_failed":
            # `reason` marks a right password refused for another cause (a racing change).
            return [] if reason is not None else [_Pending(item(ActivityType.LOGIN_FAILED))]
        case "password_change_failed":
            # API.md: `login_failed` is "the account's password was wrong; one item per attempt",
            # a wrong current password on a change too (here the session that tried is known).
            return [_Pending(item(ActivityType.LOGIN_FAILED))]
        case "session_revoked":
            end = reason if isinstance(reason, str) else EndReason.LOGOUT
            # API.md: `logout` is the session that called `POST /auth/logout`; a session deleting
            # itself (`DELETE /auth/sessions/{own id}`) is one of "every other ending".
            if end == EndReason.LOGOUT and not fields.get("by_delete"):
                return [_Pending(item(ActivityType.LOGOUT))]
            return [_Pending(item(ActivityType.SESSION_ENDED, detail={"reason": end, **by_admin}))]
        case "sessions_revoked":
            return ended(reason if isinstance(reason, str) else EndReason.LOGOUT_ALL, by_admin)
        case "refresh_reused":
            return [
                _Pending(item(ActivityType.REFRESH_REUSE_DETECTED)),
                _Pending(item(ActivityType.SESSION_ENDED, detail={"reason": EndReason.REUSE_DETECTED})),
            ]
        case "password_changed":
            own = _Pending(item(ActivityType.PASSWORD_CHANGED), notify="password_changed")
            return [own, *ended(EndReason.PASSWORD_CHANGED)]
        case "password_reset_completed":
            own = _Pending(item(ActivityType.PASSWORD_RESET), notify="password_changed")
            return [own, *ended(EndReason.PASSWORD_RESET)]
        case "account_disabled":
            return [
                _Pending(item(ActivityType.ACCOUNT_DISABLED, detail=by_admin)),
                *ended(EndReason.ACCOUNT_DISABLED, by_admin),
            ]
        case "account_enabled":
            return [_Pending(item(ActivityType.ACCOUNT_ENABLED, detail=by_admin))]
        case "admin_logout":  # one item per session it ended, none when none was live
            return ended(EndReason.ADMIN_LOGOUT, {"by": "admin"})
    return []


@dataclass(frozen=True, slots=True)
class ActivityJournal:
    """Writes items: fills in `new_device` for logins and the device of ended sessions."""

    activity: ActivityLog

    async def write(self, items: list[ActivityItem]) -> list[ActivityItem]:
        if not items:
            return []
        by_user: dict[UserId, list[ActivityItem]] = {}
        for it in items:
            by_user.setdefault(it.user_id, []).append(it)
        written: list[ActivityItem] = []
        for user_id, own in by_user.items():
            written.extend(await self._complete(user_id, own))
        await self.activity.add(written)
        return written

    async def _complete(self, user_id: UserId, items: list[ActivityItem]) -> list[ActivityItem]:
        logins = [it for it in items if it.type == ActivityType.LOGIN]
        known: set[str] = set()
        if logins:
            since = min(it.at for it in logins) - NEW_DEVICE_WINDOW
            known = await self.activity.known_devices(user_id, {it.device_name or "" for it in logins}, since)
        missing = {it.session_id for it in items if it.device_name is None and it.session_id is not None}
        names = await self.activity.device_names(user_id, missing) if missing else {}
        done = []
        for it in items:
            completed = it
            if it.type == ActivityType.LOGIN:
                label = it.device_name or ""
                completed = replace(it, new_device=label not in known)
                known.add(label)
            elif it.device_name is None and it.session_id is not None and it.session_id in names:
                completed = replace(it, device_name=names[it.session_id])
            done.append(completed)
        return done


# The items one HTTP request raised, as (recorder, items) pairs; `_CLOSED` once it is flushed.
# A plain list: opening it is all a request that records nothing pays (bench: ~0.3 µs).
RequestActivity = list[Any]
_CLOSED: Any = object()
_request: ContextVar[RequestActivity | None] = ContextVar("activity_request", default=None)


def request_binder() -> Callable[[RequestActivity | None], object]:
    """What `start_request` does, for a caller that makes the buffer itself on every request."""
    return _request.set


def start_request() -> RequestActivity:
    """Open the buffer of one HTTP request (no I/O unless an event is recorded)."""
    buffer: RequestActivity = []
    _request.set(buffer)
    return buffer


async def flush_request(buffer: RequestActivity) -> None:
    """Write what the request raised; called before its response starts. Later events of
    tasks it started go to the background."""
    entries = [entry for entry in buffer if entry is not _CLOSED]
    buffer[:] = [_CLOSED]
    for recorder, pending in entries:
        await recorder.write(pending)


@dataclass(slots=True)
class BackgroundWork:
    """Tasks that run after a response (activity off the request path, security mails).

    At most `limit` run at once. Each is short (the mail and database calls it makes have their
    own timeouts), but clients can start them faster than a slow mail server or database
    finishes them (a forgot-password request starts one for every well-formed request, and the
    route answers 202 whatever happens), so past the limit new work is dropped, not queued: the
    process's memory stays bounded. Drops are counted in `dropped` and logged at most once a
    minute (a flood makes no flood of log lines)."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    limit: int = 1_000
    dropped: int = field(default=0, init=False)
    _last_warning: float | None = field(default=None, init=False, repr=False)

    def spawn(self, work: Awaitable[None]) -> bool:
        """Run `work` in the background; False if it was dropped (the limit was reached)."""
        if len(self.tasks) >= self.limit:
            self._drop(work)
            return False

        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def _drop(self, work: Awaitable[None]) -> None:
        close = getattr(work, "close", None)
        if close is not None:  # a coroutine never started: close it (no "never awaited" warning)
            close()
        self.dropped += 1
        now = time.monotonic()
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning(
                "background work dropped: %d tasks already running (%d dropped so far)", len(self.tasks), self.dropped
            )

    async def drain(self, grace: float = 10.0) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=grace)


class Notifier(Protocol):
    """What sends the security mails (`SendSecurityMail`), seen from the recorder."""

    async def notify(self, notice: Notice) -> None: ...


class ActivityRecorder:
    """An `EventSink` that also turns a user's security events into activity items.

    Items the database could not take (an outage) are kept, up to `MAX_UNWRITTEN`, and written
    with the next items that come, so an outage of the database alone loses none of a user's
    activity (the logout that succeeded on Redis while Postgres was down is in the feed once it
    is back). Past the bound the oldest are dropped; the warning is logged at most once a minute."""

    MAX_UNWRITTEN = 10_000

    def __init__(
        self,
        inner: EventSink,
        journal: ActivityJournal,
        *,
        clock: Clock,
        secrets: SecretGenerator,
        background: BackgroundWork,
        notifier: Notifier | None = None,
    ) -> None:
        self._inner = inner
        self._journal = journal
        self._clock = clock
        self._secrets = secrets
        self._background = background
        self._notifier = notifier
        self._unwritten: list[_Pending] = []  # oldest first
        self._dropped = 0
        self._last_warning: float | None = None

    def record(self, event: SecurityEvent) -> None:
        self._inner.record(event)
        if event.name not in ACTIVITY_EVENTS:
            return
        fields = event.fields()
        if "user_id" not in fields and event.name != LOGIN_FAILED:
            return
        pending = activity_for(event.name, fields, self._clock.now(), self._secrets.new_id)
        if not pending:
            return
        buffer = _request.get()
        if buffer is not None and _CLOSED not in buffer:
            buffer.append((self, pending))
            return
        try:
            self._background.spawn(self.write(pending))
        except RuntimeError:  # no running loop: nothing can write it
            log.warning("activity not recorded outside an event loop: %s", event.name)

    async def write(self, pending: list[_Pending]) -> None:
        # what an earlier write could not store goes first (taken now: a concurrent write does not
        # take it twice)
        pending, self._unwritten = [*self._unwritten, *pending], []
        try:
            written = await self._journal.write([p.item for p in pending])
        except ServiceUnavailable as error:  # the request that caused it still succeeds
            self._keep(pending, type(error).__name__)
            return
        except Exception as error:  # not an outage: writing the same items again would fail the same way
            log.warning("could not record security activity: %s", type(error).__name__)
            return
        if self._notifier is None:
            return
        wants = {p.item.id: p.notify for p in pending if p.notify}
        for it in written:
            kind = wants.get(it.id)
            if kind == "new_sign_in" and not it.new_device:
                continue
            if kind is not None:
                self._background.spawn(self._notifier.notify(Notice(kind, it)))

    def _keep(self, pending: list[_Pending], error: str) -> None:
        """Items the database did not take, for the next write (bounded: the oldest go first)."""
        kept = [*pending, *self._unwritten]
        over = len(kept) - self.MAX_UNWRITTEN
        if over > 0:
            del kept[:over]
            self._dropped += over
        self._unwritten = kept
        now = time.monotonic()
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning(
                "could not record security activity (%s): %d items kept for the next write, %d dropped so far",
                error,
                len(kept),
                self._dropped,
            )


@dataclass(frozen=True, slots=True)
class ListActivity:
    activity: ActivityLog
    clock: Clock
    retention_seconds: int

    async def execute(
        self, user_id: UserId, limit: int, cursor: ActivityCursor | None
    ) -> tuple[list[ActivityItem], ActivityCursor | None]:
        since = self.clock.now() - timedelta(seconds=self.retention_seconds)
        limit = max(1, min(limit, MAX_PAGE))
        found = await self.activity.page(user_id, limit + 1, cursor, since)
        page = found[:limit]
        following = ActivityCursor(page[-1].at, page[-1].id) if len(found) > limit else None
        return page, following


@dataclass(frozen=True, slots=True)
class PurgeActivity:
    """Deletes activity past the retention and dead security links."""

    activity: ActivityLog
    links: SecurityLinkRepository
    clock: Clock
    retention_seconds: int

    async def execute(self) -> int:
        now = self.clock.now()
        removed = await self.activity.purge(now - timedelta(seconds=self.retention_seconds))
        await self.links.purge(now)
        return removed
