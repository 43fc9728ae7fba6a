"""No fence (no Redis: one process, no caches): revocations need no one told."""

from __future__ import annotations

from musicez.domain.ids import ApiKeyId


class NoRevocationNotifier:
    async def api_key_revoked(self, key_id: ApiKeyId) -> None:
        return None
