"""The opaque refresh token: it names its session and its place in the session's chain.

Layout (base64url, no padding): user id (16 bytes) + session id (16) + generation (8, big
endian) + secret (32: 256 bits of randomness) + tag (16). The tag is a MAC of everything
before it under the server key (computed by the application, which holds the key), so a
token with a valid tag was minted by this service, and its generation says where in the
session's rotation chain it stands: the store need not remember old tokens to call one
stolen, which keeps a session's storage the same however often it rotates.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from uuid import UUID

from musicez.domain import base64url
from musicez.domain.errors import InvalidRefreshToken
from musicez.domain.ids import SessionId, UserId

SECRET_BYTES = 32  # 256 bits of randomness
TAG_BYTES = 16
GENERATION_BYTES = 8
MAX_GENERATION = 2 ** (8 * GENERATION_BYTES) - 1
_BODY_LENGTH = 16 + 16 + GENERATION_BYTES + SECRET_BYTES
_RAW_LENGTH = _BODY_LENGTH + TAG_BYTES
ENCODED_LENGTH = 118  # base64url of 88 bytes, no padding
# Before v1.1 a token was user id + session id + secret, no generation, no tag. Such a token
# is still accepted for the session it was issued to (its MAC is in the store) until it
# rotates once, so an upgrade logs no one out; it is never evidence of theft by number.
_LEGACY_RAW_LENGTH = 16 + 16 + SECRET_BYTES
LEGACY_ENCODED_LENGTH = 86


@dataclass(frozen=True, slots=True)
class RefreshToken:
    user_id: UserId
    session_id: SessionId
    generation: int
    secret: bytes
    tag: bytes = b""
    legacy: bool = False  # a pre-v1.1 token: no generation (0 here) and no tag

    def body(self) -> bytes:
        """What the tag covers: every field but the tag."""
        return (
            self.user_id.bytes + self.session_id.bytes + self.generation.to_bytes(GENERATION_BYTES, "big") + self.secret
        )

    def with_tag(self, tag: bytes) -> RefreshToken:
        return RefreshToken(self.user_id, self.session_id, self.generation, self.secret, tag[:TAG_BYTES])

    def encode(self) -> str:
        if self.legacy:
            return base64url.encode(self.user_id.bytes + self.session_id.bytes + self.secret)
        if len(self.tag) != TAG_BYTES or len(self.secret) != SECRET_BYTES:
            raise ValueError("a refresh token needs its tag and a full secret before it is encoded")
        return base64url.encode(self.body() + self.tag)

    @classmethod
    def parse(cls, text: str) -> RefreshToken:
        """The token's fields; the tag is checked by the caller, which holds the key."""
        if len(text) not in (ENCODED_LENGTH, LEGACY_ENCODED_LENGTH) or not text.isascii():
            raise InvalidRefreshToken("The refresh token is malformed")
        try:
            raw = base64url.decode_canonical(text)  # one token, one text
        except (binascii.Error, ValueError):
            raise InvalidRefreshToken("The refresh token is malformed") from None
        if len(raw) not in (_RAW_LENGTH, _LEGACY_RAW_LENGTH):
            raise InvalidRefreshToken("The refresh token is malformed")
        if len(raw) == _LEGACY_RAW_LENGTH:
            return cls(UserId(UUID(bytes=raw[:16])), SessionId(UUID(bytes=raw[16:32])), 0, raw[32:], legacy=True)
        generation = int.from_bytes(raw[32 : 32 + GENERATION_BYTES], "big")
        return cls(
            UserId(UUID(bytes=raw[:16])),
            SessionId(UUID(bytes=raw[16:32])),
            generation,
            raw[32 + GENERATION_BYTES : _BODY_LENGTH],
            raw[_BODY_LENGTH:],
        )
