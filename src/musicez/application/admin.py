"""Account administration for operators and support consoles: list, show, disable, enable,
force logout. The CLI and the admin HTTP routes are two transports over these use cases."""

from __future__ import annotations

import binascii
import unicodedata
from dataclasses import dataclass
from uuid import UUID

from musicez.application.ports import Clock, EventSink, SessionStore, UnitOfWork, UserRepository
from musicez.application.session_ending import ending_sessions
from musicez.application.sessions import live_session_ids
from musicez.domain import base64url
from musicez.domain.email import Email
from musicez.domain.errors import FieldError, UserNotFound, ValidationFailed
from musicez.domain.events import AccountDisabled, AccountEnabled, AdminLogout, AdminUsersListed, AdminUserViewed
from musicez.domain.ids import UserId
from musicez.domain.session import EndReason, Session
from musicez.domain.user import User

REASON_MAX = 500
PAGE_DEFAULT = 50
PAGE_MAX = 100
EMAIL_FILTER_MAX = 254

UserRef = UserId | str  # an id, or what an operator typed: an email or an id


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performed an admin action, as the security event names it: "cli" or a key id."""

    by: str
    key_prefix: str | None = None


CLI_ACTOR = Actor("cli")


@dataclass(frozen=True, slots=True)
class UserPage:
    items: list[User]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class UserDetails:
    user: User
    sessions: list[Session]


async def find_user(users: UserRepository, ref: UserRef) -> User:
    """By id (a UUID), or for a string: by id when it parses as one, else by email."""
    user: User | None = None
    if isinstance(ref, UUID):
        user = await users.get(ref)
    else:
        text = ref.strip()
        try:
            user = await users.get(UserId(UUID(text)))
        except ValueError:
            try:
                user = await users.get_by_email(Email.parse(text))
            except ValidationFailed:
                user = None
    if user is None:
        raise UserNotFound("No user with this id or email")
    return user


def encode_cursor(user_id: UserId) -> str:
    return base64url.encode(user_id.bytes)


def decode_cursor(cursor: str) -> UserId:
    try:
        if len(cursor) != 22:
            raise ValueError(cursor)
        return UserId(UUID(bytes=base64url.decode(cursor)))
    except (ValueError, binascii.Error):
        raise ValidationFailed(
            "invalid cursor", [FieldError("cursor", "is not a cursor this service issued")]
        ) from None


def clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    # Control and format characters (NUL among them, which Postgres cannot store) are dropped.
    text = " ".join("".join(c for c in reason if unicodedata.category(c)[0] != "C" or c.isspace()).split())
    if len(text) > REASON_MAX:
        raise ValidationFailed("reason too long", [FieldError("reason", f"must be at most {REASON_MAX} characters")])
    return text or None


@dataclass(frozen=True, slots=True)
class ListUsers:
    uow: UnitOfWork
    events: EventSink

    async def execute(
        self,
        *,
        email_contains: str | None = None,
        disabled: bool | None = None,
        limit: int = PAGE_DEFAULT,
        cursor: str | None = None,
        actor: Actor = CLI_ACTOR,
    ) -> UserPage:
        if not 1 <= limit <= PAGE_MAX:
            raise ValidationFailed("invalid limit", [FieldError("limit", f"must be 1 to {PAGE_MAX}")])
        if email_contains is not None and len(email_contains) > EMAIL_FILTER_MAX:
            raise ValidationFailed(
                "invalid filter", [FieldError("email_contains", f"must be at most {EMAIL_FILTER_MAX} characters")]
            )
        after = decode_cursor(cursor) if cursor else None
        if email_contains and "\x00" in email_contains:  # no stored email holds one (nor can Postgres)
            return UserPage([], None)
        async with self.uow:
            found = await self.uow.users.search(
                email_contains=email_contains or None, disabled=disabled, after=after, limit=limit + 1
            )
        items = found[:limit]
        more = len(found) > limit
        self.events.record(AdminUsersListed(by=actor.by, key_prefix=actor.key_prefix, count=len(items)))
        return UserPage(items, encode_cursor(items[-1].id) if more and items else None)


@dataclass(frozen=True, slots=True)
class ShowUser:
    uow: UnitOfWork
    sessions: SessionStore
    clock: Clock
    events: EventSink

    async def execute(self, ref: UserRef, actor: Actor = CLI_ACTOR) -> UserDetails:
        async with self.uow:
            user = await find_user(self.uow.users, ref)
        self.events.record(AdminUserViewed(user_id=str(user.id), by=actor.by, key_prefix=actor.key_prefix))
        live = await self.sessions.list_for_user(user.id, self.clock.now())
        return UserDetails(user, sorted(live, key=lambda s: s.created_at, reverse=True))


@dataclass(frozen=True, slots=True)
class DisableUser:
    """Blocks the account and ends every session at once, on every process."""

    uow: UnitOfWork
    sessions: SessionStore
    clock: Clock
    events: EventSink

    async def execute(self, ref: UserRef, actor: Actor, reason: str | None = None) -> User:
        reason = clean_reason(reason)
        async with ending_sessions(self.uow, self.sessions, reason=EndReason.ACCOUNT_DISABLED) as end:
            user = await find_user(self.uow.users, ref)
            if reason is None and user.disabled:  # disabled again without a reason: the first one stands
                reason = user.disabled_reason
            now = self.clock.now()
            ending = await live_session_ids(self.sessions, user.id, now)  # one activity item each
            await self.uow.users.set_disabled(user.id, True, reason, now)
            await self.uow.reset_tokens.revoke_for_user(user.id)  # outstanding links die with the block
            end.sessions_of(user.id)
        self.events.record(
            AccountDisabled(
                user_id=str(user.id), by=actor.by, key_prefix=actor.key_prefix, reason=reason, session_ids=ending
            )
        )
        return user


@dataclass(frozen=True, slots=True)
class EnableUser:
    """Lifts the block; ended sessions and voided reset links stay dead."""

    uow: UnitOfWork
    clock: Clock
    events: EventSink

    async def execute(self, ref: UserRef, actor: Actor) -> User:
        async with self.uow:
            user = await find_user(self.uow.users, ref)
            await self.uow.users.set_disabled(user.id, False, None, self.clock.now())
            await self.uow.commit()
        self.events.record(AccountEnabled(user_id=str(user.id), by=actor.by, key_prefix=actor.key_prefix))
        return user


@dataclass(frozen=True, slots=True)
class ForceLogout:
    """Ends every live session of the user at once (one activity item per session ended)."""

    uow: UnitOfWork
    sessions: SessionStore
    clock: Clock
    events: EventSink

    async def execute(self, ref: UserRef, actor: Actor) -> int:
        async with self.uow:
            user = await find_user(self.uow.users, ref)
        ending = await live_session_ids(self.sessions, user.id, self.clock.now())
        count = await self.sessions.revoke_all(user.id, reason=EndReason.ADMIN_LOGOUT)
        self.events.record(
            AdminLogout(user_id=str(user.id), by=actor.by, key_prefix=actor.key_prefix, count=count, session_ids=ending)
        )
        return count
