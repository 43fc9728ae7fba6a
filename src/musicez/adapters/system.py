"""The system clock and the operating system's randomness."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from uuid_utils.compat import uuid7


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OsSecrets:
    def token_bytes(self, size: int) -> bytes:
        return secrets.token_bytes(size)

    def new_id(self) -> uuid.UUID:
        return uuid7()
