"""Hand-written in-memory fakes of the ports, for fast unit tests.

The repository fakes run through the same contract suite as the SQL adapters
(tests/contract), so they cannot drift from the real thing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar
from uuid import UUID

from musicez.application.ports import OutgoingMail, RateDecision
from musicez.domain.api_key import ApiKey
from musicez.domain.email import Email, email_key
from musicez.domain.errors import EmailTaken, HashingBusy
from musicez.domain.events import SecurityEvent
from musicez.domain.ids import ApiKeyId, UserId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.user import User

K = TypeVar("K")
V = TypeVar("V")

# --- the database -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ResetToken:
    user_id: UserId
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(slots=True)
class _Tables:
    users: dict[UUID, User] = field(default_factory=dict)
    api_keys: dict[UUID, ApiKey] = field(default_factory=dict)
    reset_tokens: dict[str, _ResetToken] = field(default_factory=dict)

    def copy(self) -> _Tables:
        # Entities are frozen, so copying the dicts isolates a transaction.
        return _Tables(dict(self.users), dict(self.api_keys), dict(self.reset_tokens))


def _merge(committed: _Tables, snapshot: _Tables, working: _Tables) -> None:
    """Apply what one transaction changed since it began, as a database would on commit."""
    _merge_table(committed.users, snapshot.users, working.users)
    _merge_table(committed.api_keys, snapshot.api_keys, working.api_keys)
    _merge_table(committed.reset_tokens, snapshot.reset_tokens, working.reset_tokens)


def _merge_table(target: dict[K, V], before: dict[K, V], after: dict[K, V]) -> None:
    for row_key in before.keys() - after.keys():
        target.pop(row_key, None)
    for row_key, row in after.items():
        if before.get(row_key) != row:
            target[row_key] = row


class FakeDatabase:
    """What is committed; each unit of work works on a copy of it."""

    def __init__(self) -> None:
        self.committed = _Tables()
        self.commits = 0


class FakeUserRepository:
    def __init__(self, tables: _Tables) -> None:
        self._tables = tables

    async def add(self, user: User) -> None:
        wanted = user.email.key
        if any(u.email.key == wanted for u in self._tables.users.values()):
            raise EmailTaken()
        self._tables.users[user.id] = user

    async def get(self, user_id: UserId) -> User | None:
        return self._tables.users.get(user_id)

    async def get_by_email(self, email: Email) -> User | None:
        wanted = email.key
        return next((u for u in self._tables.users.values() if u.email.key == wanted), None)

    async def set_password(self, user_id: UserId, password_hash: str, now: datetime) -> None:
        user = self._tables.users.get(user_id)
        if user is not None:
            self._tables.users[user_id] = replace(user, password_hash=password_hash, updated_at=now)

    async def replace_hash(self, user_id: UserId, old_hash: str, new_hash: str) -> bool:
        user = self._tables.users.get(user_id)
        if user is None or user.password_hash != old_hash:
            return False
        self._tables.users[user_id] = replace(user, password_hash=new_hash)
        return True

    async def set_disabled(self, user_id: UserId, disabled: bool, reason: str | None, now: datetime) -> None:
        user = self._tables.users.get(user_id)
        if user is not None:
            self._tables.users[user_id] = replace(
                user,
                disabled=disabled,
                disabled_reason=reason if disabled else None,
                disabled_at=now if disabled else None,
                updated_at=now,
            )

    async def record_login(self, user_id: UserId, now: datetime) -> None:
        user = self._tables.users.get(user_id)
        if user is not None:
            self._tables.users[user_id] = replace(user, last_login_at=now)

    async def search(
        self, *, email_contains: str | None, disabled: bool | None, after: UserId | None, limit: int
    ) -> list[User]:
        found = [
            u
            for u in sorted(self._tables.users.values(), key=lambda u: u.id)
            if (not email_contains or email_key(email_contains) in u.email.key)
            and (disabled is None or u.disabled is disabled)
            and (after is None or u.id > after)
        ]
        return found[:limit]


class FakeApiKeyRepository:
    def __init__(self, tables: _Tables) -> None:
        self._tables = tables

    async def add(self, key: ApiKey) -> None:
        self._tables.api_keys[key.id] = replace(key, last_used_at=None, revoked_at=None)

    async def get(self, key_id: ApiKeyId) -> ApiKey | None:
        return self._tables.api_keys.get(key_id)

    async def list(self) -> list[ApiKey]:
        return sorted(self._tables.api_keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: ApiKeyId, now: datetime) -> bool:
        key = self._tables.api_keys.get(key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            self._tables.api_keys[key_id] = replace(key, revoked_at=now)
        return True

    async def record_usage(self, last_used: Mapping[ApiKeyId, datetime]) -> None:
        for key_id, when in last_used.items():
            key = self._tables.api_keys.get(key_id)
            if key is not None and (key.last_used_at is None or key.last_used_at < when):
                self._tables.api_keys[key_id] = replace(key, last_used_at=when)


class FakeResetTokenRepository:
    def __init__(self, tables: _Tables) -> None:
        self._tables = tables

    def _drop_user(self, user_id: UserId, keep: str | None = None) -> None:
        tokens = self._tables.reset_tokens
        for token_hash in [h for h, t in tokens.items() if t.user_id == user_id and h != keep]:
            del tokens[token_hash]

    async def replace_for_user(self, user_id: UserId, token_hash: str, expires_at: datetime, now: datetime) -> None:
        self._drop_user(user_id)
        self._tables.reset_tokens[token_hash] = _ResetToken(user_id, expires_at)

    async def revoke_for_user(self, user_id: UserId) -> None:
        self._drop_user(user_id)

    async def add_for_user(
        self, user_id: UserId, token_hash: str, expires_at: datetime, now: datetime, max_live: int
    ) -> None:
        tokens = self._tables.reset_tokens
        for stale in [h for h, t in tokens.items() if t.user_id == user_id and (t.used_at or t.expires_at <= now)]:
            del tokens[stale]
        tokens[token_hash] = _ResetToken(user_id, expires_at)
        mine = [h for h, t in tokens.items() if t.user_id == user_id]  # dicts keep insertion order
        for oldest in mine[: max(0, len(mine) - max_live)]:
            del tokens[oldest]

    async def find(self, token_hash: str, now: datetime) -> UserId | None:
        token = self._tables.reset_tokens.get(token_hash)
        if token is None or token.used_at is not None or token.expires_at <= now:
            return None
        return token.user_id

    async def consume(self, token_hash: str, now: datetime) -> UserId | None:
        token = self._tables.reset_tokens.get(token_hash)
        if token is None or token.used_at is not None or token.expires_at <= now:
            return None
        self._tables.reset_tokens[token_hash] = replace(token, used_at=now)
        self._drop_user(token.user_id, keep=token_hash)
        return token.user_id


class FakeUnitOfWork:
    """One transaction per `async with`, rolled back unless committed."""

    users: FakeUserRepository
    api_keys: FakeApiKeyRepository
    reset_tokens: FakeResetTokenRepository

    def __init__(self, database: FakeDatabase | None = None) -> None:
        self.database = database or FakeDatabase()
        self._snapshot: _Tables | None = None
        self._working: _Tables | None = None

    async def __aenter__(self) -> Self:
        self._snapshot = self.database.committed.copy()
        self._working = self.database.committed.copy()
        self.users = FakeUserRepository(self._working)
        self.api_keys = FakeApiKeyRepository(self._working)
        self.reset_tokens = FakeResetTokenRepository(self._working)
        return self

    async def commit(self) -> None:
        if self._working is None or self._snapshot is None:
            raise RuntimeError("commit outside `async with`")
        merged = self.database.committed.copy()
        _merge(merged, self._snapshot, self._working)
        # The unique index on lower(email): a concurrent transaction may have taken it.
        emails = [u.email.key for u in merged.users.values()]
        if len(emails) != len(set(emails)):
            raise EmailTaken()
        self.database.committed = merged
        self.database.commits += 1
        self._snapshot = self._working.copy()  # later changes are diffed against this commit

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._snapshot = self._working = None


class FakeApiKeyLookup:
    def __init__(self, database: FakeDatabase) -> None:
        self._database = database

    async def find(self, key_id: ApiKeyId) -> ApiKey | None:
        return self.cached(key_id)

    def cached(self, key_id: ApiKeyId) -> ApiKey | None:
        return self._database.committed.api_keys.get(key_id)  # the in-process database itself


# --- time, randomness, hashing -----------------------------------------------------------


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when


class FakeSecrets:
    """Deterministic randomness: a seeded generator."""

    def __init__(self, seed: int = 1) -> None:
        self._random = random.Random(seed)

    def token_bytes(self, size: int) -> bytes:
        return self._random.randbytes(size)

    def new_id(self) -> UUID:
        return uuid.UUID(bytes=self._random.randbytes(16), version=4)


class FakePasswordHasher:
    """Cheap 'hashes' and a record of every expensive call, to compare the work done."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.busy = False  # every hash refused (HashingBusy), as a saturated hasher does

    def check_capacity(self) -> None:
        if self.busy:
            raise HashingBusy(1)

    async def hash(self, password: str) -> str:
        self.check_capacity()
        self.calls.append("hash")
        return "fake$" + password[::-1]

    async def verify(self, password: str, password_hash: str) -> bool:
        self.check_capacity()
        self.calls.append("verify")
        return password_hash == "fake$" + password[::-1]

    async def spend_equal_work(self, password: str, account: str = "") -> None:
        self.check_capacity()
        self.calls.append("spend_equal_work")

    def needs_rehash(self, password_hash: str) -> bool:
        return False

    @property
    def expensive_calls(self) -> int:
        return sum(call in ("verify", "spend_equal_work") for call in self.calls)


# --- limits, mail, events, usage ----------------------------------------------------------


class FakeRateLimiter:
    """Counts per (key, limit) without time: a window never ends unless reset."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, RateLimit], int] = {}

    def _decision(self, count: int, limit: RateLimit, allowed: bool) -> RateDecision:
        return RateDecision(allowed, limit.amount, max(0, limit.amount - count), limit.seconds)

    async def hit(self, key: str, limit: RateLimit) -> RateDecision:
        count = self.counts[(key, limit)] = self.counts.get((key, limit), 0) + 1
        return self._decision(count, limit, count <= limit.amount)

    def hit_nowait(self, key: str, limit: RateLimit) -> RateDecision | None:
        return None  # every hit is counted by `hit`

    async def peek(self, key: str, limit: RateLimit) -> RateDecision:
        count = self.counts.get((key, limit), 0)
        return self._decision(count, limit, count < limit.amount)

    async def reset(self, key: str, limit: RateLimit) -> None:
        self.counts.pop((key, limit), None)

    async def refund(self, key: str, limit: RateLimit) -> None:
        if self.counts.get((key, limit), 0) > 0:
            self.counts[(key, limit)] -= 1


class FakeRateObserver:
    def __init__(self) -> None:
        self.decisions: list[RateDecision] = []

    def observe(self, decision: RateDecision) -> None:
        self.decisions.append(decision)

    def retract(self, decision: RateDecision) -> None:
        self.decisions = [d for d in self.decisions if d is not decision]


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    async def send(self, mail: OutgoingMail) -> None:
        self.sent.append(mail)


class FakeEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, dict[str, object]]] = []  # (name, fields), as logged
        self.events: list[SecurityEvent] = []

    def record(self, event: SecurityEvent) -> None:
        self.events.append(event)
        self.recorded.append((event.name, event.fields()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.recorded]


class FakeUsageRecorder:
    def __init__(self) -> None:
        self.marked: dict[UUID, datetime] = {}

    def mark(self, key_id: ApiKeyId, now: datetime) -> None:
        self.marked[key_id] = now
