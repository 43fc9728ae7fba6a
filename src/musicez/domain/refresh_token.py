"""The opaque refresh token: it names its session so a lookup needs no index."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from uuid import UUID

from musicez.domain.errors import InvalidRefreshToken

SECRET_BYTES = 32  # 256 bits of randomness
_RAW_LENGTH = 16 + 16 + SECRET_BYTES
_ENCODED_LENGTH = 86  # base64url of 64 bytes, no padding


@dataclass(frozen=True, slots=True)
class RefreshToken:
    user_id: UUID
    session_id: UUID
    secret: bytes

    def encode(self) -> str:
        raw = self.user_id.bytes + self.session_id.bytes + self.secret
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def parse(cls, text: str) -> RefreshToken:
        if len(text) != _ENCODED_LENGTH or not text.isascii():
            raise InvalidRefreshToken("The refresh token is malformed")
        try:
            raw = base64.urlsafe_b64decode(text + "==")
        except (binascii.Error, ValueError):
            raise InvalidRefreshToken("The refresh token is malformed") from None
        if len(raw) != _RAW_LENGTH or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
            raise InvalidRefreshToken("The refresh token is malformed")
        return cls(UUID(bytes=raw[:16]), UUID(bytes=raw[16:32]), raw[32:])
