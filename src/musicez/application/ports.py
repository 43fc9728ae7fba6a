"""The ports: small protocols the use cases depend on, implemented by the adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import NamedTuple, Protocol, Self
from uuid import UUID

from musicez.domain.activity import ActivityCursor, ActivityItem, SecurityLink
from musicez.domain.api_key import ApiKey
from musicez.domain.email import Email
from musicez.domain.events import SecurityEvent
from musicez.domain.rate_limit import RateLimit
from musicez.domain.redaction import hide_secrets
from musicez.domain.session import Rotation, Session
from musicez.domain.user import User


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SecretGenerator(Protocol):
    def token_bytes(self, size: int) -> bytes: ...

    def new_id(self) -> UUID:
        """A time-ordered unique id (UUIDv7)."""
        ...


class KeyedHasher(Protocol):
    """A MAC under the server's secret key, so a copy of a store cannot act as its users."""

    def digest(self, purpose: str, data: bytes) -> bytes: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, password_hash: str) -> bool: ...

    async def spend_equal_work(self, password: str, account: str = "") -> None:
        """Cost what a failed `verify` costs, for accounts that do not exist.

        `account` (the email tried) lets the hasher cost what a known account would."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """The hash was made at a lower cost than the configured one."""
        ...


@hide_secrets
@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_at: datetime
    lifetime_seconds: int  # exp - iat


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    expires_at: datetime
    # The remaining registered claims, for token introspection (RFC 7662; v1.1).
    issuer: str | None = None
    audience: str | None = None
    issued_at: datetime | None = None
    token_id: str | None = None


class AccessTokenCodec(Protocol):
    def issue(self, user_id: UUID, session_id: UUID, now: datetime) -> AccessToken: ...

    def verify(self, token: str) -> AccessClaims:
        """The token's claims; raises InvalidToken or TokenExpired."""
        ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises EmailTaken when the (case-insensitive) email exists."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, email: Email) -> User | None: ...

    async def set_password(self, user_id: UUID, password_hash: str, now: datetime) -> None: ...

    async def replace_hash(self, user_id: UUID, old_hash: str, new_hash: str) -> bool:
        """Store a rehash of the same password, only while `old_hash` is still the stored one."""

    # -- account administration (v1.1, issue 14) --

    async def set_disabled(self, user_id: UUID, disabled: bool, reason: str | None, now: datetime) -> None:
        """Disable (with an optional reason, stamping `disabled_at`) or enable the account."""
        ...

    async def record_login(self, user_id: UUID, now: datetime) -> None:
        """Note a successful login (`last_login_at`)."""
        ...

    async def search(
        self, *, email_contains: str | None, disabled: bool | None, after: UUID | None, limit: int
    ) -> list[User]:
        """Up to `limit` users in id order (UUIDv7: creation order) after the cursor `after`,
        whose email contains `email_contains` (case-insensitively) and whose flag is `disabled`."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: UUID) -> ApiKey | None: ...

    async def list(self) -> list[ApiKey]: ...

    async def revoke(self, key_id: UUID, now: datetime) -> bool:
        """False when no such key exists; revoking a revoked key keeps its first time."""
        ...

    async def record_usage(self, last_used: Mapping[UUID, datetime]) -> None: ...


class ApiKeyLookup(Protocol):
    """Finding a key on the request path, outside any unit of work."""

    async def find(self, key_id: UUID) -> ApiKey | None: ...


class UsageRecorder(Protocol):
    """Notes when a key was last used, without a database write per request."""

    def mark(self, key_id: UUID, now: datetime) -> None: ...


class ResetTokenRepository(Protocol):
    async def replace_for_user(self, user_id: UUID, token_hash: str, expires_at: datetime, now: datetime) -> None:
        """Store a new reset token; every older token of the user dies."""
        ...

    async def consume(self, token_hash: str, now: datetime) -> UUID | None:
        """The user of a live, unused token, which is used up with all others of that user."""
        ...

    async def revoke_for_user(self, user_id: UUID) -> None:
        """Every pending reset token of the user dies (the password was changed)."""
        ...

    async def add_for_user(
        self, user_id: UUID, token_hash: str, expires_at: datetime, now: datetime, max_live: int
    ) -> None:
        """Store a new reset token; earlier live ones stay, but only the newest `max_live` live."""
        ...

    async def find(self, token_hash: str, now: datetime) -> UUID | None:
        """The user of a live, unused token, leaving it usable."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; rolled back on exit unless committed."""

    # Read-only members, so an implementation may hold its own repository types.
    @property
    def users(self) -> UserRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def reset_tokens(self) -> ResetTokenRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


class SessionStore(Protocol):
    """Where sessions live, so revocation is immediate on every server process."""

    async def create(self, session: Session, refresh_hash: str) -> None: ...

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

    async def get(self, user_id: UUID, session_id: UUID) -> Session | None: ...

    async def is_active(self, user_id: UUID, session_id: UUID) -> bool: ...

    async def list_for_user(self, user_id: UUID, now: datetime) -> list[Session]: ...

    async def revoke(self, user_id: UUID, session_id: UUID, reason: str = "logout") -> bool:
        """End one session, leaving a tombstone with `reason` (an EndReason) until it would have expired."""
        ...

    async def revoke_all(self, user_id: UUID, keep: UUID | None = None, reason: str = "logout_all") -> int:
        """End every session of the user except `keep`; how many ended. Each leaves a tombstone."""
        ...

    async def ended_reason(self, user_id: UUID, session_id: UUID) -> str | None:
        """Why a session that no longer exists ended (an EndReason), while its tombstone lasts."""
        ...

    async def ping(self) -> None: ...


class RateDecision(NamedTuple):
    """One request counted against one limit. A named tuple, not a frozen dataclass: one is made
    on every guarded request, and a frozen dataclass's `__init__` costs three times as much."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees up


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        """Count one request against `key`; `allowed` is False once over the limit."""
        ...

    async def peek(self, key: str, limit: RateLimit) -> RateDecision: ...

    async def reset(self, key: str, limit: RateLimit) -> None: ...


class PrincipalRateLimiter(RateLimiter, Protocol):
    """The guard's per-principal limit (v1.1: a leased quota, spent locally between leases).

    Same contract as RateLimiter; `remaining` may be conservative or as of the last lease."""


class RateObserver(Protocol):
    """Hears every decision taken for the current request."""

    def observe(self, decision: RateDecision) -> None: ...

    def retract(self, decision: RateDecision) -> None:
        """A decision that no longer describes the limit (its counter was reset since)."""
        ...


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


class EventSink(Protocol):
    """Security events (`musicez.domain.events`): ids and prefixes only, never a secret."""

    def record(self, event: SecurityEvent) -> None: ...


class Database(Protocol):
    async def ping(self) -> None: ...


class ActivityLog(Protocol):
    """The users' security activity (one row per item), each call its own transaction."""

    async def add(self, items: list[ActivityItem]) -> None: ...

    async def page(
        self, user_id: UUID, limit: int, after: ActivityCursor | None, since: datetime
    ) -> list[ActivityItem]:
        """Up to `limit` items of the user newer than `since`, newest first, past `after`."""
        ...

    async def known_devices(self, user_id: UUID, names: set[str], since: datetime) -> set[str]:
        """Which of `names` the user logged in with at or after `since`."""
        ...

    async def device_names(self, user_id: UUID, session_ids: set[UUID]) -> dict[UUID, str]:
        """The device label each session logged in with, where its login is still kept."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete every item older than `before`; how many."""
        ...


class SecurityLinkRepository(Protocol):
    """Single-use "this wasn't me" links, stored only as a MAC."""

    async def add(self, token_hash: str, link: SecurityLink, expires_at: datetime, now: datetime) -> None: ...

    async def consume(self, token_hash: str, now: datetime) -> SecurityLink | None:
        """The link of a live, unused token, which is used up; None otherwise."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete expired and used links; how many."""
        ...


class RevocationNotifier(Protocol):
    """Tells every server process that an API key changed, and returns once none still trusts the old row."""

    async def api_key_revoked(self, key_id: UUID) -> None: ...
