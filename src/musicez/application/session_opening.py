"""Opening sessions and handing out the token pair, shared by register, login and refresh."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from musicez.application.macs import refresh_hash, refresh_successor_secret, refresh_tag
from musicez.application.policies import SessionPolicy
from musicez.application.ports import AccessToken, AccessTokenCodec, Clock, KeyedHasher, SecretGenerator, SessionStore
from musicez.domain.ids import SessionId, UserId
from musicez.domain.redaction import hide_secrets
from musicez.domain.refresh_token import SECRET_BYTES, TAG_BYTES, RefreshToken
from musicez.domain.session import Session
from musicez.domain.user import User

DEVICE_NAME_MAX = 100


@hide_secrets
@dataclass(frozen=True, slots=True)
class TokenGrant:
    access: AccessToken
    refresh_token: str
    refresh_expires_at: datetime
    session: Session
    user_id: UserId
    email: str
    user_created_at: datetime
    device_token: str | None = None  # register and login only (hardening, issue 11)


def signed(macs: KeyedHasher, token: RefreshToken) -> RefreshToken:
    """The token with its tag: a MAC of its fields under the server key, own purpose label."""
    return token.with_tag(refresh_tag(macs, token.body(), TAG_BYTES))


def is_authentic(macs: KeyedHasher, token: RefreshToken) -> bool:
    """Whether this service minted the token (constant-time tag comparison)."""
    return hmac.compare_digest(signed(macs, token).tag, token.tag)


def successor_of(macs: KeyedHasher, token: RefreshToken, text: str) -> RefreshToken:
    """The next token is derived from the presented one under the server key, so a retry
    within the grace window gets the same successor without storing any token."""
    secret = refresh_successor_secret(macs, text, SECRET_BYTES)
    # A legacy token (pre-v1.1, generation 0 by definition) is succeeded by generation 1.
    return signed(macs, RefreshToken(token.user_id, token.session_id, token.generation + 1, secret))


def clean_device_name(name: str | None) -> str:
    cleaned = " ".join((name or "").split())[:DEVICE_NAME_MAX]
    return cleaned or "Unknown device"


@dataclass(frozen=True, slots=True)
class SessionOpener:
    sessions: SessionStore
    codec: AccessTokenCodec
    macs: KeyedHasher
    secrets: SecretGenerator
    clock: Clock
    session_policy: SessionPolicy

    async def open(self, user: User, device_name: str | None) -> TokenGrant:
        now = self.clock.now()
        absolute = now + timedelta(seconds=self.session_policy.session_max_age)
        refresh_expires = min(now + timedelta(seconds=self.session_policy.refresh_token_ttl), absolute)
        session = Session(
            id=SessionId(self.secrets.new_id()),
            user_id=user.id,
            device_name=clean_device_name(device_name),
            created_at=now,
            last_used_at=now,
            refresh_expires_at=refresh_expires,
            absolute_expires_at=absolute,
            email=user.email.value,
            user_created_at=user.created_at,
        )
        first = RefreshToken(user.id, session.id, 0, self.secrets.token_bytes(SECRET_BYTES))
        token = signed(self.macs, first).encode()
        await self.sessions.create(session, refresh_hash(self.macs, token))
        return self.grant(session, token, now)

    def grant(self, session: Session, refresh_token: str, now: datetime) -> TokenGrant:
        return TokenGrant(
            access=self.codec.issue(session.user_id, session.id, now),
            refresh_token=refresh_token,
            refresh_expires_at=session.refresh_expires_at,
            session=session,
            user_id=session.user_id,
            email=session.email,
            user_created_at=session.user_created_at or session.created_at,
        )
