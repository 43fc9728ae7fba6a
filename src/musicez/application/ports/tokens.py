"""The access-token port: issuing and verifying the signed access tokens, and what they carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from musicez.domain.ids import SessionId, UserId
from musicez.domain.redaction import hide_secrets


@hide_secrets
@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_at: datetime
    lifetime_seconds: int  # exp - iat


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UserId
    session_id: SessionId
    expires_at: datetime
    # The remaining registered claims, for token introspection (RFC 7662; v1.1).
    issuer: str | None = None
    audience: str | None = None
    issued_at: datetime | None = None
    token_id: str | None = None


class AccessTokenCodec(Protocol):
    def issue(self, user_id: UserId, session_id: SessionId, now: datetime) -> AccessToken: ...

    def verify(self, token: str) -> AccessClaims:
        """The token's claims; raises InvalidToken or TokenExpired."""
        ...
