"""The password-reset token: 32 random bytes, base64url without padding (43 characters).

Only its keyed hash is stored; the text travels once, in the mail's link. Its repr never
shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from musicez.domain import base64url
from musicez.domain.errors import InvalidResetToken
from musicez.domain.redaction import hide_secrets

RESET_TOKEN_BYTES = 32
ENCODED_LENGTH = 43  # base64url of 32 bytes, no padding
_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@hide_secrets
@dataclass(frozen=True, slots=True)
class ResetToken:
    token: str

    @classmethod
    def new(cls, raw: bytes) -> ResetToken:
        if len(raw) != RESET_TOKEN_BYTES:
            raise ValueError("a reset token is 32 random bytes")
        return cls(base64url.encode(raw))

    @classmethod
    def parse(cls, text: str) -> ResetToken:
        """A token of the right shape (whether it was issued is the store's to say)."""
        if len(text) != ENCODED_LENGTH or not set(text) <= _URLSAFE:
            raise InvalidResetToken()
        return cls(text)
