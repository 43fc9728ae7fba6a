"""API-key usage: the last-used times noted on the request path, written in one batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from musicez.application.ports import UnitOfWork
from musicez.domain.ids import ApiKeyId


class UsageBuffer(Protocol):
    """What `UsageRecorder.mark` noted since the last drain, handed over once."""

    def drain(self) -> Mapping[ApiKeyId, datetime]: ...


@dataclass(frozen=True, slots=True)
class FlushApiKeyUsage:
    """Writes the noted last-used times in one transaction (every few seconds, and at shutdown).
    What a failed write held is lost: last-used times are a hint, not an audit trail."""

    buffer: UsageBuffer
    uow: UnitOfWork

    async def execute(self) -> int:
        """How many keys' times were written; 0 without opening a transaction when none were noted."""
        pending = self.buffer.drain()
        if not pending:
            return 0
        async with self.uow:
            await self.uow.api_keys.record_usage(pending)
            await self.uow.commit()
        return len(pending)
