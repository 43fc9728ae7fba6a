"""Access tokens as signed JWTs (RFC 9068 `at+jwt`), with a verification cache."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from musicez.adapters.security.keys import KeyRing
from musicez.application.ports import AccessClaims, AccessToken
from musicez.domain.errors import InvalidToken, TokenExpired
from musicez.domain.ids import SessionId, UserId

REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "iss", "aud"]
TOKEN_TYPE = "at+jwt"
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class TokenSettings:
    issuer: str
    audience: str
    ttl_seconds: int
    leeway_seconds: int = 10
    cache_size: int = 50_000


class JwtCodec:
    def __init__(self, keys: KeyRing, settings: TokenSettings) -> None:
        self._keys = keys
        self._settings = settings
        self._jwt = jwt.PyJWT(options={"require": REQUIRED_CLAIMS, "verify_exp": True, "verify_iat": True})
        # A token that verified once verifies again until it expires: remember the result, with
        # the POSIX time it stops being accepted (its expiry plus the leeway; a float compare on
        # the hot path). Revocation is not cached here; the session store answers that.
        self._verified: OrderedDict[str, tuple[float, AccessClaims]] = OrderedDict()

    def issue(self, user_id: UserId, session_id: SessionId, now: datetime) -> AccessToken:
        issued = int(now.timestamp())
        expires = issued + self._settings.ttl_seconds
        payload = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": issued,
            "exp": expires,
        }
        token = jwt.encode(
            payload,
            self._keys.signing_key,
            algorithm=self._keys.algorithm,
            headers={"kid": self._keys.signing_kid, "typ": TOKEN_TYPE},
        )
        return AccessToken(token, datetime.fromtimestamp(expires, UTC), self._settings.ttl_seconds)

    def verify(self, token: str) -> AccessClaims:
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached[0]:
                return cached[1]
            self._verified.pop(token, None)
            raise TokenExpired()
        claims = self._verify_from_scratch(token)
        self._verified[token] = (claims.expires_at.timestamp() + self._settings.leeway_seconds, claims)
        if len(self._verified) > self._settings.cache_size:
            self._verified.popitem(last=False)
        return claims

    def _verify_from_scratch(self, token: str) -> AccessClaims:
        # RFC 7515 3.1: base64url with the trailing '=' omitted. PyJWT decodes a padded token
        # all the same: one token would have many spellings, each a new entry of the caches.
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or "=" in token:
            raise InvalidToken("The access token is malformed")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != TOKEN_TYPE:
                raise InvalidToken("The token is not an access token")
            key = self._keys.verification_key(header.get("kid"))
            if key is None:
                raise InvalidToken("The token was signed with an unknown key")
            payload: dict[str, Any] = self._jwt.decode(
                token,
                key,
                algorithms=[self._keys.algorithm],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_seconds,
            )
            return AccessClaims(
                user_id=UserId(uuid.UUID(str(payload["sub"]))),
                session_id=SessionId(uuid.UUID(str(payload["sid"]))),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
                issuer=str(payload["iss"]),
                audience=self._settings.audience,
                issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
                token_id=str(payload["jti"]) if "jti" in payload else None,
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError, OverflowError):
            raise InvalidToken() from None
