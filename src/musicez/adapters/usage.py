"""API-key usage noted in memory and written to the database in batches."""

from __future__ import annotations

from datetime import datetime

from musicez.domain.ids import ApiKeyId


class BufferedUsageRecorder:
    def __init__(self) -> None:
        self._pending: dict[ApiKeyId, datetime] = {}

    def mark(self, key_id: ApiKeyId, now: datetime) -> None:
        self._pending[key_id] = now

    def drain(self) -> dict[ApiKeyId, datetime]:
        pending, self._pending = self._pending, {}
        return pending
