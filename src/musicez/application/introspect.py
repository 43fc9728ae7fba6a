"""Token introspection (RFC 7662) for resource servers that ask this service about a token."""

from __future__ import annotations

from dataclasses import dataclass

from musicez.application.ports import AccessClaims, AccessTokenCodec, SessionStore
from musicez.domain.errors import ClientError


@dataclass(frozen=True, slots=True)
class IntrospectToken:
    codec: AccessTokenCodec
    sessions: SessionStore

    async def execute(self, token: str) -> AccessClaims | None:
        """The claims of a valid access token whose session is alive; None for anything else."""
        try:
            claims = self.codec.verify(token)
        except ClientError:
            return None
        if await self.sessions.get(claims.user_id, claims.session_id) is None:  # the guard's hot path
            return None
        return claims
