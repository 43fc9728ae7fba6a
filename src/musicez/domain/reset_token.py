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
        if not base64url.has_shape(text, RESET_TOKEN_BYTES):  # 43 characters
            raise InvalidResetToken()
        return cls(text)
