"""Admin-managed API keys for service-to-service clients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from musicez.domain.ids import ApiKeyId
from musicez.domain.rate_limit import RateLimit
from musicez.domain.redaction import hide_secrets


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: ApiKeyId
    name: str
    prefix: str
    secret_hash: str
    created_at: datetime
    rate_limit: RateLimit | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    scope: str = "api"  # API_KEY_SCOPES (v1.1)

    def is_usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


# `api`: every guarded route; `admin`: those and the admin routes too (v1.1).
API_KEY_SCOPES = ("api", "admin")
SCOPE_GRANTS = {"api": frozenset({"api"}), "admin": frozenset({"api", "admin"})}
USER_SCOPES = frozenset({"api"})  # users never hold `admin`

API_KEY_PREFIX = "mez_"
API_KEY_SECRET_BYTES = 24  # 192 bits of randomness
_ID_HEX = 32
_SECRET_CHARS = 32  # base64url of 24 bytes
_KEY_LENGTH = len(API_KEY_PREFIX) + _ID_HEX + _SECRET_CHARS
# The id in lower-case hex, then the url-safe base64 secret; ASCII classes only (no `\d`, no re.I).
_SHAPE = re.compile(re.escape(API_KEY_PREFIX) + f"([0-9a-f]{{{_ID_HEX}}})([A-Za-z0-9_-]{{{_SECRET_CHARS}}})")


@hide_secrets
@dataclass(frozen=True, slots=True)
class PresentedKey:
    """A key as a client presents it: `mez_` + the key id in hex + the secret."""

    key_id: ApiKeyId
    secret: str

    @classmethod
    def parse(cls, text: str) -> PresentedKey | None:
        shape = _SHAPE.fullmatch(text) if len(text) == _KEY_LENGTH else None
        if shape is None:
            return None
        return cls(ApiKeyId(UUID(hex=shape[1])), shape[2])

    def encode(self) -> str:
        return f"{API_KEY_PREFIX}{self.key_id.hex}{self.secret}"

    @property
    def display_prefix(self) -> str:
        return display_prefix(self.key_id)


def display_prefix(key_id: ApiKeyId) -> str:
    """What lists and logs show of a key: enough to recognise it, nothing to use it."""
    return f"{API_KEY_PREFIX}{key_id.hex[:12]}"
