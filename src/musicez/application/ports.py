"""The ports: small protocols the use cases depend on, implemented by the adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from musicez.domain.api_key import ApiKey
from musicez.domain.email import Email
from musicez.domain.rate_limit import RateLimit
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

    async def spend_equal_work(self, password: str) -> None:
        """Cost what a failed `verify` costs, for accounts that do not exist."""
        ...


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


class UnitOfWork(Protocol):
    """One database transaction; rolled back on exit unless committed."""

    users: UserRepository
    api_keys: ApiKeyRepository
    reset_tokens: ResetTokenRepository

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
    ) -> Rotation:
        """Atomically apply one refresh: rotate, retry within grace, detect reuse or refuse."""
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


@dataclass(frozen=True, slots=True)
class RateDecision:
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


class RateObserver(Protocol):
    """Hears every decision taken for the current request."""

    def observe(self, decision: RateDecision) -> None: ...


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


class EventSink(Protocol):
    """Security events: named, with ids and prefixes only, never a secret."""

    def record(self, event: str, **fields: object) -> None: ...


class Database(Protocol):
    async def ping(self) -> None: ...


class RevocationNotifier(Protocol):
    """Tells every server process that an API key changed, and returns once none still trusts the old row."""

    async def api_key_revoked(self, key_id: UUID) -> None: ...
