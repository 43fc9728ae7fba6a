"""Ports of the database: the repositories, the unit of work, and API-key lookups and notices."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from musicez.domain.api_key import ApiKey
from musicez.domain.email import Email
from musicez.domain.ids import ApiKeyId, UserId
from musicez.domain.user import User


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises EmailTaken when the (case-insensitive) email exists."""
        ...

    async def get(self, user_id: UserId) -> User | None: ...

    async def get_by_email(self, email: Email) -> User | None: ...

    async def set_password(self, user_id: UserId, password_hash: str, now: datetime) -> None: ...

    async def replace_hash(self, user_id: UserId, old_hash: str, new_hash: str) -> bool:
        """Store a rehash of the same password, only while `old_hash` is still the stored one."""

    # -- account administration (v1.1, issue 14) --

    async def set_disabled(self, user_id: UserId, disabled: bool, reason: str | None, now: datetime) -> None:
        """Disable (with an optional reason, stamping `disabled_at`) or enable the account."""
        ...

    async def record_login(self, user_id: UserId, now: datetime) -> None:
        """Note a successful login (`last_login_at`)."""
        ...

    async def search(
        self, *, email_contains: str | None, disabled: bool | None, after: UserId | None, limit: int
    ) -> list[User]:
        """Up to `limit` users in id order (UUIDv7: creation order) after the cursor `after`,
        whose email contains `email_contains` (case-insensitively) and whose flag is `disabled`."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: ApiKeyId) -> ApiKey | None: ...

    async def list(self) -> list[ApiKey]: ...

    async def revoke(self, key_id: ApiKeyId, now: datetime) -> bool:
        """False when no such key exists; revoking a revoked key keeps its first time."""
        ...

    async def record_usage(self, last_used: Mapping[ApiKeyId, datetime]) -> None: ...


class ApiKeyLookup(Protocol):
    """Finding a key on the request path, outside any unit of work."""

    async def find(self, key_id: ApiKeyId) -> ApiKey | None: ...

    def cached(self, key_id: ApiKeyId) -> ApiKey | None:
        """The row, when this process can vouch for it without I/O (a cache it trusts), else
        None: then `find`. Never a row `find` would not return at this moment (a revoked key's
        row shows its revocation). The guard's hot path: no coroutine, no round trip."""
        ...


class UsageRecorder(Protocol):
    """Notes when a key was last used, without a database write per request."""

    def mark(self, key_id: ApiKeyId, now: datetime) -> None: ...


class ResetTokenRepository(Protocol):
    async def replace_for_user(self, user_id: UserId, token_hash: str, expires_at: datetime, now: datetime) -> None:
        """Store a new reset token; every older token of the user dies."""
        ...

    async def consume(self, token_hash: str, now: datetime) -> UserId | None:
        """The user of a live, unused token, which is used up with all others of that user."""
        ...

    async def revoke_for_user(self, user_id: UserId) -> None:
        """Every pending reset token of the user dies (the password was changed)."""
        ...

    async def add_for_user(
        self, user_id: UserId, token_hash: str, expires_at: datetime, now: datetime, max_live: int
    ) -> None:
        """Store a new reset token; earlier live ones stay, but only the newest `max_live` live."""
        ...

    async def find(self, token_hash: str, now: datetime) -> UserId | None:
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


class Database(Protocol):
    async def ping(self) -> None: ...


class RevocationNotifier(Protocol):
    """Tells every server process that an API key changed, and returns once none still trusts the old row."""

    async def api_key_revoked(self, key_id: ApiKeyId) -> None: ...
