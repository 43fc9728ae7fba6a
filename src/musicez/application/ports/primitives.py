"""Ports for time, randomness and hashing: the clock, ids and secrets, MACs, password hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID


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

    def check_capacity(self) -> None:
        """Raise `HashingBusy` now if a hash asked for now would be refused: a login or a
        registration in a storm is shed before it costs a database read or a counter."""
        ...
