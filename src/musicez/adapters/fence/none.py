"""No fence (no Redis: one process, no caches): revocations need no one told."""

from __future__ import annotations

from uuid import UUID


class NoRevocationNotifier:
    async def api_key_revoked(self, key_id: UUID) -> None:
        return None
